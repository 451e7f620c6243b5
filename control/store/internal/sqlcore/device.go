package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const deviceCols = `id, org_id, name, labels, created_at, revoked_at, last_seen, agent_version, capabilities`

func scanDevice(r Row) (store.Device, error) {
	var d store.Device
	var labels labelsCol
	var created, revoked, seen timeCol
	err := r.Scan(&d.ID, &d.OrgID, &d.Name, &labels, &created, &revoked, &seen, &d.AgentVersion, &d.Capabilities)
	d.Labels, d.CreatedAt, d.RevokedAt, d.LastSeen = labels, created.T, revoked.ptr(), seen.ptr()
	return d, err
}

// CreateDevice inserts a device; an empty ID is filled in.
func (t *Tx) CreateDevice(ctx context.Context, d store.Device) (store.Device, error) {
	if err := fillID("device", &d.ID); err != nil {
		return d, err
	}
	if d.Name == "" {
		return d, fmt.Errorf("create device: empty name: %w", store.ErrInvalid)
	}
	labels, err := encodeLabels(d.Labels)
	if err != nil {
		return d, err
	}
	d.OrgID, d.CreatedAt, d.RevokedAt, d.LastSeen = t.org, ts(d.CreatedAt), tsPtrVal(d.RevokedAt), tsPtrVal(d.LastSeen)
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	_, err = t.c.Exec(ctx, `INSERT INTO devices (`+deviceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, t.org, d.Name, labels, d.CreatedAt, tsPtr(d.RevokedAt), tsPtr(d.LastSeen), d.AgentVersion, d.Capabilities)
	if err != nil {
		return d, fmt.Errorf("create device %s: %w", d.ID, err)
	}
	return d, t.register(ctx, store.LookupDevice, d.ID)
}

// UpdateDevice writes a device's name and labels.
func (t *Tx) UpdateDevice(ctx context.Context, d store.Device) error {
	if err := checkID("device", d.ID); err != nil {
		return err
	}
	if d.Name == "" {
		return fmt.Errorf("update device: empty name: %w", store.ErrInvalid)
	}
	labels, err := encodeLabels(d.Labels)
	if err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE devices SET name = ?, labels = ? WHERE org_id = ? AND id = ?`, d.Name, labels, t.org, d.ID)
	return exactlyOne(n, err, "update device", d.ID)
}

// Device returns one device of the organization.
func (t *Tx) Device(ctx context.Context, id string) (store.Device, error) {
	if err := checkID("device", id); err != nil {
		return store.Device{}, err
	}
	d, err := scanDevice(t.c.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE org_id = ? AND id = ?`, t.org, id))
	if err != nil {
		return d, fmt.Errorf("device %s: %w", id, err)
	}
	return d, nil
}

// Devices lists the organization's devices by name.
func (t *Tx) Devices(ctx context.Context) ([]store.Device, error) {
	rows, err := t.c.Query(ctx, `SELECT `+deviceCols+` FROM devices WHERE org_id = ? ORDER BY name, id`, t.org)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return collect(rows, scanDevice, "list devices")
}

// RevokeDevice marks a device revoked; revoking again keeps the first time.
func (t *Tx) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	if err := checkID("device", id); err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE org_id = ? AND id = ?`, ts(at), t.org, id)
	return exactlyOne(n, err, "revoke device", id)
}

// DeviceSeen records an agent's connection and what it reported.
func (t *Tx) DeviceSeen(ctx context.Context, id string, at time.Time, agentVersion, capabilities string) error {
	if err := checkID("device", id); err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE devices SET last_seen = ?, agent_version = ?, capabilities = ? WHERE org_id = ? AND id = ?`,
		ts(at), agentVersion, capabilities, t.org, id)
	return exactlyOne(n, err, "device seen", id)
}

// DeleteDevice removes a revoked device and what only it used: its enrollment tokens (and
// their directory entries), its console sessions and its directory entry. Audit entries name
// it by id and stay.
func (t *Tx) DeleteDevice(ctx context.Context, id string) error {
	if err := checkID("device", id); err != nil {
		return err
	}
	var revoked timeCol
	if err := t.c.QueryRow(ctx, `SELECT revoked_at FROM devices WHERE org_id = ? AND id = ?`, t.org, id).Scan(&revoked); err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	}
	if !revoked.Valid {
		return fmt.Errorf("delete device %s: not revoked: %w", id, store.ErrConflict)
	}
	steps := []struct {
		what, query string
		args        []any
	}{
		{"enrollment tokens' directory entries", `DELETE FROM directory WHERE kind = 'enroll' AND org_id = ? AND key IN
			(SELECT token_hash FROM enrollment_tokens WHERE org_id = ? AND device_id = ?)`, []any{t.org, t.org, id}},
		{"enrollment tokens", `DELETE FROM enrollment_tokens WHERE org_id = ? AND device_id = ?`, []any{t.org, id}},
		{"console sessions", `DELETE FROM console_sessions WHERE org_id = ? AND device_id = ?`, []any{t.org, id}},
		{"directory entry", `DELETE FROM directory WHERE kind = 'device' AND org_id = ? AND key = ?`, []any{t.org, id}},
	}
	for _, s := range steps {
		if _, err := t.c.Exec(ctx, s.query, s.args...); err != nil {
			return fmt.Errorf("delete device %s: %s: %w", id, s.what, err)
		}
	}
	n, err := t.c.Exec(ctx, `DELETE FROM devices WHERE org_id = ? AND id = ? AND revoked_at IS NOT NULL`, t.org, id)
	return exactlyOne(n, err, "delete device", id)
}
