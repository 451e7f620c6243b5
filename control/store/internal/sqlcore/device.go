package sqlcore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const deviceCols = `id, org_id, name, labels, created_at, revoked_at, last_seen, agent_version, capabilities, kind, gateway_id, target, amt_tags, link_up`

func scanDevice(r Row) (store.Device, error) {
	var d store.Device
	var labels labelsCol
	var created, revoked, seen timeCol
	var kind string
	var gateway, target nullText
	var tags tagsCol
	err := r.Scan(&d.ID, &d.OrgID, &d.Name, &labels, &created, &revoked, &seen, &d.AgentVersion, &d.Capabilities, &kind, &gateway, &target, &tags, &d.LinkUp)
	d.Labels, d.CreatedAt, d.RevokedAt, d.LastSeen = labels, created.T, revoked.ptr(), seen.ptr()
	d.Kind, d.GatewayID, d.Target, d.AMTTags = store.DeviceKind(kind), string(gateway), string(target), tags
	return d, err
}

// checkServed checks a new device's kind, gateway, target and AMT tags against each other
// and, for a served device, that its gateway is a gateway of this organization: SQLite's
// foreign key cannot name the organization, and neither database can check the gateway's kind.
func (t *Tx) checkServed(ctx context.Context, d *store.Device) error {
	if d.Kind == "" {
		d.Kind = store.DeviceAgent
	}
	if !d.Kind.Valid() {
		return fmt.Errorf("create device: kind %q: %w", d.Kind, store.ErrInvalid)
	}
	if len(d.AMTTags) > 0 && d.Kind != store.DeviceGateway {
		return fmt.Errorf("create device: a %s has no AMT tags: %w", d.Kind, store.ErrInvalid)
	}
	if (d.GatewayID == "") != (d.Target == "") {
		return fmt.Errorf("create device: a served device needs both a gateway and a target: %w", store.ErrInvalid)
	}
	if d.GatewayID == "" {
		return nil
	}
	if d.Kind != store.DeviceAgent {
		return fmt.Errorf("create device: a %s cannot be served by a gateway: %w", d.Kind, store.ErrInvalid)
	}
	if err := checkID("gateway", d.GatewayID); err != nil {
		return err
	}
	d.Target = strings.ToLower(d.Target)
	var kind string
	if err := t.c.QueryRow(ctx, `SELECT kind FROM devices WHERE org_id = ? AND id = ?`, t.org, d.GatewayID).Scan(&kind); err != nil {
		return fmt.Errorf("create device: gateway %s: %w", d.GatewayID, err)
	}
	if store.DeviceKind(kind) != store.DeviceGateway {
		return fmt.Errorf("create device: device %s is not a gateway: %w", d.GatewayID, store.ErrInvalid)
	}
	return nil
}

// CreateDevice inserts a device; an empty ID is filled in, an empty Kind is DeviceAgent.
func (t *Tx) CreateDevice(ctx context.Context, d store.Device) (store.Device, error) {
	if err := fillID("device", &d.ID); err != nil {
		return d, err
	}
	if d.Name == "" {
		return d, fmt.Errorf("create device: empty name: %w", store.ErrInvalid)
	}
	if err := t.checkServed(ctx, &d); err != nil {
		return d, err
	}
	labels, err := encodeLabels(d.Labels)
	if err != nil {
		return d, err
	}
	tags, err := encodeTags(d.AMTTags)
	if err != nil {
		return d, err
	}
	d.OrgID, d.CreatedAt, d.RevokedAt, d.LastSeen = t.org, ts(d.CreatedAt), tsPtrVal(d.RevokedAt), tsPtrVal(d.LastSeen)
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	if len(d.AMTTags) == 0 {
		d.AMTTags = nil // as a read returns it
	}
	_, err = t.c.Exec(ctx, `INSERT INTO devices (`+deviceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, t.org, d.Name, labels, d.CreatedAt, tsPtr(d.RevokedAt), tsPtr(d.LastSeen), d.AgentVersion, d.Capabilities,
		string(d.Kind), orNull(d.GatewayID), orNull(d.Target), tags, d.LinkUp)
	if err != nil {
		return d, fmt.Errorf("create device %s: %w", d.ID, err)
	}
	return d, t.register(ctx, store.LookupDevice, d.ID)
}

// UpdateDevice writes a device's name, labels and AMT tags.
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
	tags, err := encodeTags(d.AMTTags)
	if err != nil {
		return err
	}
	if tags != nil {
		// The schema's CHECK would refuse it too, but as a driver error no caller can tell
		// from any other; and a refused statement aborts a PostgreSQL transaction.
		var kind string
		if err := t.c.QueryRow(ctx, `SELECT kind FROM devices WHERE org_id = ? AND id = ?`, t.org, d.ID).Scan(&kind); err != nil {
			return fmt.Errorf("update device %s: %w", d.ID, err)
		}
		if store.DeviceKind(kind) != store.DeviceGateway {
			return fmt.Errorf("update device %s: a %s has no AMT tags: %w", d.ID, kind, store.ErrInvalid)
		}
	}
	n, err := t.c.Exec(ctx, `UPDATE devices SET name = ?, labels = ?, amt_tags = ? WHERE org_id = ? AND id = ?`, d.Name, labels, tags, t.org, d.ID)
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

// SetTargetLinks records a gateway's report of its machines' links (see store.Tx).
func (t *Tx) SetTargetLinks(ctx context.Context, gatewayID string, up, down []string, at time.Time) (int64, error) {
	if err := checkID("gateway", gatewayID); err != nil {
		return 0, err
	}
	var total int64
	for _, set := range []struct {
		linkUp  bool
		targets []string
	}{{false, down}, {true, up}} {
		// Only rows whose link changes are written.
		n, err := t.forTargets(ctx, `UPDATE devices SET link_up = ?, last_seen = ?
			WHERE org_id = ? AND gateway_id = ? AND link_up = ? AND revoked_at IS NULL AND target `,
			[]any{set.linkUp, ts(at), t.org, gatewayID, !set.linkUp}, set.targets)
		if err != nil {
			return total, fmt.Errorf("links of gateway %s: %w", gatewayID, err)
		}
		total += n
	}
	return total, nil
}

// LinkedTargets lists the targets of a gateway's live devices whose link is up.
func (t *Tx) LinkedTargets(ctx context.Context, gatewayID string) ([]string, error) {
	if err := checkID("gateway", gatewayID); err != nil {
		return nil, err
	}
	rows, err := t.c.Query(ctx, `SELECT target FROM devices
		WHERE org_id = ? AND gateway_id = ? AND link_up = ? AND revoked_at IS NULL ORDER BY target`, t.org, gatewayID, true)
	if err != nil {
		return nil, fmt.Errorf("linked machines of gateway %s: %w", gatewayID, err)
	}
	return collect(rows, func(r Row) (string, error) {
		var target string
		err := r.Scan(&target)
		return target, err
	}, "linked machines of gateway "+gatewayID)
}

// forTargets runs q, which ends in "target ", for every target (lower-cased): as one
// "= ANY(?)" where the dialect has arrays, else in chunks of inChunk "IN (…)".
func (t *Tx) forTargets(ctx context.Context, q string, args []any, targets []string) (int64, error) {
	lower := make([]string, len(targets))
	for i, s := range targets {
		lower[i] = strings.ToLower(s)
	}
	if len(lower) == 0 {
		return 0, nil
	}
	if t.dialect.AnyArray {
		return t.c.Exec(ctx, q+`= ANY(?)`, append(args, lower)...)
	}
	var total int64
	for len(lower) > 0 {
		chunk := lower[:min(len(lower), inChunk)]
		lower = lower[len(chunk):]
		all := append(append(make([]any, 0, len(args)+len(chunk)), args...), anySlice(chunk)...)
		n, err := t.c.Exec(ctx, q+`IN (?`+strings.Repeat(`, ?`, len(chunk)-1)+`)`, all...)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ServedDevices lists the devices a gateway serves, revoked ones included, by name.
func (t *Tx) ServedDevices(ctx context.Context, gatewayID string) ([]store.Device, error) {
	if err := checkID("gateway", gatewayID); err != nil {
		return nil, err
	}
	rows, err := t.c.Query(ctx, `SELECT `+deviceCols+` FROM devices WHERE org_id = ? AND gateway_id = ? ORDER BY name, id`, t.org, gatewayID)
	if err != nil {
		return nil, fmt.Errorf("devices served by %s: %w", gatewayID, err)
	}
	return collect(rows, scanDevice, "devices served by "+gatewayID)
}

// DeleteDevice removes a revoked device and what only it used: its enrollment tokens (and
// their directory entries), its console sessions and its directory entry; a gateway also
// takes its served devices (all revoked) and theirs. Audit entries name them by id and stay.
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
	var live int
	if err := t.c.QueryRow(ctx, `SELECT count(*) FROM devices WHERE org_id = ? AND gateway_id = ? AND revoked_at IS NULL`, t.org, id).Scan(&live); err != nil {
		return fmt.Errorf("delete device %s: served devices: %w", id, err)
	}
	if live > 0 {
		return fmt.Errorf("delete device %s: %d served devices not revoked: %w", id, live, store.ErrConflict)
	}
	// The device itself and, if it is a gateway, the devices it serves (directory keys are
	// text, device ids uuid in PostgreSQL).
	const which = `(SELECT id FROM devices WHERE org_id = ? AND (id = ? OR gateway_id = ?))`
	const whichText = `(SELECT CAST(id AS text) FROM devices WHERE org_id = ? AND (id = ? OR gateway_id = ?))`
	steps := []struct {
		what, query string
		args        []any
	}{
		{"enrollment tokens' directory entries", `DELETE FROM directory WHERE kind = 'enroll' AND org_id = ? AND key IN
			(SELECT token_hash FROM enrollment_tokens WHERE org_id = ? AND device_id IN ` + which + `)`, []any{t.org, t.org, t.org, id, id}},
		{"enrollment tokens", `DELETE FROM enrollment_tokens WHERE org_id = ? AND device_id IN ` + which, []any{t.org, t.org, id, id}},
		// Shares go before the sessions they name; their tokens' directory entries with them.
		{"share links' directory entries", `DELETE FROM directory WHERE kind = 'share' AND org_id = ? AND key IN
			(SELECT token_hash FROM session_shares WHERE org_id = ? AND session_id IN
				(SELECT id FROM console_sessions WHERE org_id = ? AND device_id IN ` + which + `))`, []any{t.org, t.org, t.org, t.org, id, id}},
		{"share links", `DELETE FROM session_shares WHERE org_id = ? AND session_id IN
			(SELECT id FROM console_sessions WHERE org_id = ? AND device_id IN ` + which + `)`, []any{t.org, t.org, t.org, id, id}},
		{"console sessions", `DELETE FROM console_sessions WHERE org_id = ? AND device_id IN ` + which, []any{t.org, t.org, id, id}},
		{"directory entries", `DELETE FROM directory WHERE kind = 'device' AND org_id = ? AND key IN ` + whichText, []any{t.org, t.org, id, id}},
		{"served devices", `DELETE FROM devices WHERE org_id = ? AND gateway_id = ?`, []any{t.org, id}},
	}
	for _, s := range steps {
		if _, err := t.c.Exec(ctx, s.query, s.args...); err != nil {
			return fmt.Errorf("delete device %s: %s: %w", id, s.what, err)
		}
	}
	n, err := t.c.Exec(ctx, `DELETE FROM devices WHERE org_id = ? AND id = ? AND revoked_at IS NOT NULL`, t.org, id)
	return exactlyOne(n, err, "delete device", id)
}
