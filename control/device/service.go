package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// Sentinel errors of the device service; callers map them to answers.
var (
	// ErrOutOfScope: the principal may not give a device labels outside its own scope.
	ErrOutOfScope = errors.New("device: labels outside the principal's scope")
	// ErrNameTaken: another device of the organization has that name (ignoring case).
	ErrNameTaken = errors.New("device: name taken")
	// ErrNotRevoked: only a revoked device can be deleted.
	ErrNotRevoked = errors.New("device: not revoked")
)

// ConflictError is a change refused for a reason the caller can fix. Error is a sentence for
// people; it matches ErrNameTaken or ErrNotRevoked, and store.ErrConflict.
type ConflictError struct {
	Msg string
	Err error
}

func (e *ConflictError) Error() string   { return e.Msg }
func (e *ConflictError) Unwrap() []error { return []error{e.Err, store.ErrConflict} }

// Sessions ends devices' console sessions (sessions.Manager).
type Sessions interface {
	StopDevice(ctx context.Context, orgID, deviceID, actor, reason string, only func(store.ConsoleSession) bool) (int, error)
	// StopDevices stops the live sessions of every device in deviceIDs, reading the live
	// sessions once however many devices there are (a gateway's thousands).
	StopDevices(ctx context.Context, orgID string, deviceIDs map[string]bool, actor, reason string) (int, error)
}

// Agents cuts a device's live agent connections on every node.
type Agents interface {
	DisconnectDevice(ctx context.Context, deviceID string) error
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Store    store.Store
	Sessions Sessions
	Agents   Agents
	// EnrollmentTTL is how long an enrollment token stays usable (default 24 h).
	EnrollmentTTL time.Duration
	Now           func() time.Time
	// Logger gets what Adopt skips (default slog.Default()).
	Logger *slog.Logger
	// MaxServed bounds the rows a gateway serves past which Adopt creates none (default and
	// at most the package's MaxServed; lower in tests).
	MaxServed int
}

// Service is what principals do to devices: create, rename and relabel, revoke, delete, issue
// enrollment tokens. Every change is checked against the principal's label scope, validated
// (CheckFields) and audited in the same transaction.
type Service struct {
	cfg ServiceConfig
	log *slog.Logger
}

// NewService makes a Service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil || cfg.Sessions == nil || cfg.Agents == nil {
		return nil, errors.New("device: store, sessions and agents are required")
	}
	if cfg.EnrollmentTTL <= 0 {
		cfg.EnrollmentTTL = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxServed <= 0 || cfg.MaxServed > MaxServed {
		cfg.MaxServed = MaxServed
	}
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}

// InScope reads a device the principal may see; one outside its scope is not found.
func InScope(ctx context.Context, tx store.Tx, p accounts.Principal, id string) (store.Device, error) {
	d, err := tx.Device(ctx, id)
	if err != nil {
		return d, err
	}
	if !p.SeesDevice(d.Labels) {
		return store.Device{}, fmt.Errorf("device %s outside the principal's scope: %w", id, store.ErrNotFound)
	}
	return d, nil
}

// audit appends rec for p inside tx.
func (s *Service) audit(ctx context.Context, tx store.Tx, p accounts.Principal, action store.AuditAction, target string, details map[string]string) error {
	rec := store.AuditRecord{Time: s.cfg.Now(), Actor: p.String(), Action: action, Target: target, Details: details}
	if p.Kind == accounts.KindOIDC {
		rec.ActorName = p.Email // the store holds no record of OIDC subjects to name them from
	}
	_, err := tx.AppendAudit(ctx, rec)
	return err
}

// nameTaken turns the store's unique-name conflict into a sentence.
func nameTaken(name string, err error) error {
	if errors.Is(err, store.ErrConflict) {
		return &ConflictError{Err: ErrNameTaken, Msg: fmt.Sprintf(
			"A device named %q already exists in this organization (names are unique ignoring case); choose another name, or rename or delete that device first.", name)}
	}
	return err
}

// Device is a device as principals see it: the row, and for a served device its gateway's
// name (whatever the principal's scope: it says how the device is reached).
type Device struct {
	store.Device
	GatewayName string
	// gateway is a served device's gateway as read with it: its presence is the gateway's.
	gateway *store.Device
}

// List returns the devices p may see, by name.
func (s *Service) List(ctx context.Context, p accounts.Principal) ([]Device, error) {
	var out []Device
	err := s.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		ds, err := tx.Devices(ctx)
		if err != nil {
			return err
		}
		gateways := map[string]*store.Device{}
		for i, d := range ds {
			if d.Kind == store.DeviceGateway {
				gateways[d.ID] = &ds[i]
			}
		}
		for _, d := range ds {
			if !p.SeesDevice(d.Labels) {
				continue
			}
			view := Device{Device: d}
			if gw := gateways[d.GatewayID]; gw != nil {
				view.GatewayName, view.gateway = gw.Name, gw
			}
			out = append(out, view)
		}
		return nil
	})
	return out, err
}

// Get returns one device p may see.
func (s *Service) Get(ctx context.Context, p accounts.Principal, id string) (Device, error) {
	var d Device
	err := s.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		d, err = described(ctx, tx, p, id)
		return err
	})
	return d, err
}

// described reads a device p may see with its gateway's name.
func described(ctx context.Context, tx store.Tx, p accounts.Principal, id string) (Device, error) {
	d, err := InScope(ctx, tx, p, id)
	if err != nil || !d.Served() {
		return Device{Device: d}, err
	}
	gw, err := tx.Device(ctx, d.GatewayID)
	if err != nil {
		return Device{Device: d}, fmt.Errorf("gateway of device %s: %w", id, err)
	}
	return Device{Device: d, GatewayName: gw.Name, gateway: &gw}, nil
}

// Create adds a device inside p's scope: an agent, a gateway, or a machine a gateway serves
// (see NewDevice).
func (s *Service) Create(ctx context.Context, p accounts.Principal, nd NewDevice) (Device, error) {
	if err := nd.check(); err != nil {
		return Device{}, err
	}
	if !p.SeesDevice(nd.Labels) {
		return Device{}, ErrOutOfScope
	}
	var out Device
	err := s.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		row := store.Device{Name: nd.Name, Labels: nd.Labels, Kind: nd.Kind, AMTTags: nd.AMTTags, CreatedAt: s.cfg.Now()}
		details := map[string]string{"name": nd.Name, "labels": FormatLabels(nd.Labels), "kind": string(nd.kind())}
		if len(nd.AMTTags) > 0 {
			details["amt_tags"] = formatTags(nd.AMTTags)
		}
		if nd.AMT != nil {
			gw, err := s.servingGateway(ctx, tx, p, *nd.AMT)
			if err != nil {
				return err
			}
			row.GatewayID, row.Target, out.GatewayName = gw.ID, nd.AMT.GUID, gw.Name
			details["gateway"], details["gateway_name"], details["target"] = gw.ID, gw.Name, nd.AMT.GUID
		}
		d, err := tx.CreateDevice(ctx, row)
		if err != nil {
			return nameTaken(nd.Name, err)
		}
		out.Device = d
		return s.audit(ctx, tx, p, store.AuditDeviceCreate, "device:"+d.ID, details)
	})
	return out, err
}

// Change is what Update changes; a nil field is left as it is.
type Change struct {
	Name   *string
	Labels *map[string]string
	// AMTTags replaces a gateway's MPS tags (empty: none, it adopts nothing more); refused
	// for any other device, even empty.
	AMTTags *[]string
}

// Update renames, relabels and/or retags a device. Labels decide who may reach the device and
// tags which machines a gateway adopts, so the entry records each changed field before and
// after.
func (s *Service) Update(ctx context.Context, p accounts.Principal, id string, ch Change) (Device, error) {
	var out Device
	err := s.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		described, err := described(ctx, tx, p, id)
		if err != nil {
			return err
		}
		before := described.Device
		out = described
		d := &out.Device
		if ch.Name != nil {
			d.Name = *ch.Name
		}
		if ch.Labels != nil {
			d.Labels = *ch.Labels
		}
		if ch.AMTTags != nil {
			if d.Kind != store.DeviceGateway {
				return tagsNotGateway(before.Name)
			}
			if d.AMTTags, err = CheckTags(*ch.AMTTags); err != nil {
				return err
			}
		}
		if err := CheckFields(d.Name, d.Labels); err != nil {
			return err
		}
		if !p.SeesDevice(d.Labels) {
			return fmt.Errorf("labels would move the device outside your scope: %w", store.ErrInvalid)
		}
		details := map[string]string{}
		if d.Name != before.Name {
			details["name_before"], details["name_after"] = before.Name, d.Name
		}
		if !maps.Equal(d.Labels, before.Labels) { // nil and empty are equal: no change
			details["labels_before"], details["labels_after"] = FormatLabels(before.Labels), FormatLabels(d.Labels)
		}
		if !slices.Equal(d.AMTTags, before.AMTTags) { // nil and empty are equal too
			details["amt_tags_before"], details["amt_tags_after"] = formatTags(before.AMTTags), formatTags(d.AMTTags)
		}
		if len(details) == 0 {
			return nil // nothing changed, nothing to record
		}
		if err := tx.UpdateDevice(ctx, *d); err != nil {
			return nameTaken(d.Name, err)
		}
		details["name"] = d.Name
		return s.audit(ctx, tx, p, store.AuditDeviceUpdate, "device:"+d.ID, details)
	})
	return out, err
}

// Revoke marks a device revoked (refusing its agent's handshakes, proofs and new consoles
// from then on), then ends its live sessions and agent connections. Revoking a gateway
// revokes every device it serves in the same transaction, ends their consoles too, and cuts
// the gateway's agent, which is theirs.
func (s *Service) Revoke(ctx context.Context, p accounts.Principal, id string) error {
	// The devices whose consoles end: this one and, for a gateway, those it serves.
	ended := map[string]bool{id: true}
	err := s.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		d, err := InScope(ctx, tx, p, id)
		if err != nil {
			return err
		}
		now := s.cfg.Now()
		details := map[string]string{"name": d.Name}
		var revoked int
		if d.Kind == store.DeviceGateway {
			served, err := tx.ServedDevices(ctx, id)
			if err != nil {
				return err
			}
			for _, sd := range served {
				ended[sd.ID] = true
				if sd.RevokedAt != nil {
					continue
				}
				if err := tx.RevokeDevice(ctx, sd.ID, now); err != nil {
					return fmt.Errorf("revoke device %s served by gateway %s: %w", sd.ID, id, err)
				}
				revoked++
			}
			details["kind"] = string(store.DeviceGateway)
			details["served_revoked"] = strconv.Itoa(revoked)
			// One entry for the lot: a gateway may serve thousands of machines, and this entry
			// is the record of each one's revocation (its served devices name the gateway).
			details["note"] = "the devices this gateway serves were revoked with it; they have no entries of their own"
		}
		if d.RevokedAt != nil && revoked == 0 {
			return nil
		}
		if err := tx.RevokeDevice(ctx, id, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, store.AuditDeviceRevoke, "device:"+id, details)
	})
	if err != nil {
		return err
	}
	if len(ended) == 1 {
		if _, err := s.cfg.Sessions.StopDevice(ctx, p.OrgID, id, p.String(), "device revoked", nil); err != nil {
			return err
		}
	} else if _, err := s.cfg.Sessions.StopDevices(ctx, p.OrgID, ended, p.String(), "device revoked with its gateway"); err != nil {
		return err
	}
	return s.cfg.Agents.DisconnectDevice(ctx, id)
}

// Delete removes a revoked device; its audit entries stay. A device not revoked yet is
// refused (ErrNotRevoked): revoking is what cuts its agent and consoles off.
func (s *Service) Delete(ctx context.Context, p accounts.Principal, id string) error {
	return s.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		d, err := InScope(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if d.RevokedAt == nil {
			return &ConflictError{Err: ErrNotRevoked, Msg: fmt.Sprintf(
				"Device %q is not revoked; revoke it first (kvmctl devices revoke), then delete it.", d.Name)}
		}
		details := map[string]string{"name": d.Name}
		if d.Kind == store.DeviceGateway {
			served, err := tx.ServedDevices(ctx, id)
			if err != nil {
				return err
			}
			for _, sd := range served {
				if sd.RevokedAt == nil {
					return &ConflictError{Err: ErrNotRevoked, Msg: fmt.Sprintf(
						"Gateway %q serves device %q, which is not revoked; revoke the gateway again (that revokes what it serves), then delete it.", d.Name, sd.Name)}
				}
			}
			details["kind"] = string(store.DeviceGateway)
			details["served_deleted"] = strconv.Itoa(len(served))
		}
		if err := tx.DeleteDevice(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, store.AuditDeviceDelete, "device:"+id, details)
	})
}

// EnrollmentToken is a freshly issued one-time token, shown once.
type EnrollmentToken struct {
	Token     string
	DeviceID  string
	ExpiresAt time.Time
}

// IssueEnrollmentToken makes a one-time token with which an agent enrolls as device id.
func (s *Service) IssueEnrollmentToken(ctx context.Context, p accounts.Principal, id string) (EnrollmentToken, error) {
	tok, hash := NewEnrollmentToken()
	now := s.cfg.Now()
	exp := now.Add(s.cfg.EnrollmentTTL)
	err := s.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		d, err := InScope(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return fmt.Errorf("device %s is revoked: %w", id, store.ErrConflict)
		}
		if d.Served() {
			gw, err := tx.Device(ctx, d.GatewayID)
			if err != nil {
				return fmt.Errorf("gateway of device %s: %w", id, err)
			}
			return &ConflictError{Err: ErrServedDevice, Msg: fmt.Sprintf(
				"Device %q is served by gateway %q and has no agent of its own; enroll the gateway instead (kvmctl devices enroll-token %s).", d.Name, gw.Name, gw.ID)}
		}
		if err := tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: hash, DeviceID: id, CreatedAt: now, ExpiresAt: exp}); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, store.AuditEnrollmentToken, "device:"+id, map[string]string{"name": d.Name, "expires_at": exp.UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return EnrollmentToken{}, err
	}
	return EnrollmentToken{Token: tok, DeviceID: id, ExpiresAt: exp}, nil
}

// FormatLabels writes labels as k=v pairs sorted by key, comma-separated, for audit details.
func FormatLabels(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}
