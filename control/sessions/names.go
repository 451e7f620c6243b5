package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Names turns the principals sessions record ("user:<id>", "apikey:<id>", "oidc:<subject>",
// "relay:<name>") into what people recognize — an email, an API key's name — for the API, the
// console and the dashboard, which would otherwise show UUIDs. Users and keys are named by
// the store's rule (Tx.ActorName, as audit entries name them); it reads within one store
// transaction and remembers what it looked up.
type Names struct {
	tx    store.Tx
	cache map[string]string
}

// NewNames makes a resolver reading through tx.
func NewNames(tx store.Tx) *Names { return &Names{tx: tx, cache: map[string]string{}} }

// Principal names principal; what it cannot resolve (a deleted user) stays as stored.
func (n *Names) Principal(ctx context.Context, principal string) string {
	if name, ok := n.cache[principal]; ok {
		return name
	}
	name := principal
	kind, id, _ := strings.Cut(principal, ":")
	switch kind {
	case "oidc":
		name = id
	case "relay":
		name = id + " (kvmrelay token)"
	case "guest":
		// A guest's own name is their session's (Session); the principal is the share.
		name = "guest"
	default:
		if stored, err := n.tx.ActorName(ctx, principal); err == nil && stored != "" {
			name = stored
		}
	}
	n.cache[principal] = name
	return name
}

// Session names the person of session s: a guest by the name they gave ("Jane (guest)"),
// everyone else by their principal.
func (n *Names) Session(ctx context.Context, s store.ConsoleSession) string {
	if s.DisplayName != "" {
		return GuestName(s.DisplayName)
	}
	return n.Principal(ctx, s.Principal)
}

// Describe names the device and the person of the session a console token names, for the
// console's toolbar.
func (m *Manager) Describe(ctx context.Context, tenant, sessionID string) (device, principal string, err error) {
	err = m.cfg.Store.Read(ctx, tenant, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sessionID)
		if err != nil {
			return err
		}
		d, err := tx.Device(ctx, s.DeviceID)
		if err != nil {
			return err
		}
		device, principal = d.Name, NewNames(tx).Session(ctx, s)
		return nil
	})
	return device, principal, err
}

// ParticipantName names the person of console session sid, whose token names principal,
// for the other participants of a shared console: Names' rule (an email, an API key's name,
// an OIDC subject, a guest's "<name> (guest)"). A session that is not the organization's,
// or whose principal differs, is named by principal alone.
func (m *Manager) ParticipantName(ctx context.Context, orgID, sid, principal string) (string, error) {
	var name string
	err := m.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		names := NewNames(tx)
		if store.ValidID(sid) {
			s, err := tx.Session(ctx, sid)
			if err == nil && s.Principal == principal {
				name = names.Session(ctx, s)
				return nil
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		name = names.Principal(ctx, principal)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sessions: name %s: %w", principal, err)
	}
	return name, nil
}

// PrincipalName names principal for the other participants of a shared console (Names'
// rule: an email, an API key's name, an OIDC subject).
func (m *Manager) PrincipalName(ctx context.Context, orgID, principal string) (string, error) {
	var name string
	err := m.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		name = NewNames(tx).Principal(ctx, principal)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sessions: name %s: %w", principal, err)
	}
	return name, nil
}
