package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ErrNotAllowed: the session's principal may no longer hold a console on its device (a key
// revoked, a role lowered, a scope or the device's labels changed, a user disabled). It is
// matched by an *EndError, whose Reason says which right went.
var ErrNotAllowed = errors.New("sessions: principal no longer allowed")

// EndError is a session that ended (ErrEnded) or may not go on (ErrNotAllowed), with the
// reason in words a console or a console link's page can show.
type EndError struct {
	SID    string
	Reason string // may be empty for sessions that ended without one
	kind   error
}

func (e *EndError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("session %s: %v", e.SID, e.kind)
	}
	return fmt.Sprintf("session %s: %v: %s", e.SID, e.kind, e.Reason)
}

func (e *EndError) Unwrap() error { return e.kind }

// EndReason is the reason an error of Admit, Check or Redeemable gives for the session's
// end, or "" when it gives none.
func EndReason(err error) string {
	var e *EndError
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// allowed re-derives, from what the store holds now, whether s's principal may still hold a
// console on dev, and with which grant: the same rights starting one requires (accounts
// decides, in one place), or, for a session joined through a share link, what the share
// allows (shares.go: always view). The grant is empty for principals whose rights are not
// stored.
func allowed(ctx context.Context, tx store.Tx, s store.ConsoleSession, dev store.Device, now time.Time) (wire.Grant, error) {
	if s.ShareID != "" {
		if err := joinedAllowed(ctx, tx, s, now); err != nil {
			return "", err
		}
		return wire.GrantView, nil
	}
	grant, err := accounts.MayHoldConsole(ctx, tx, s.Principal, dev)
	var re *accounts.RightError
	if errors.As(err, &re) {
		return "", &EndError{SID: s.ID, Reason: re.Reason, kind: ErrNotAllowed}
	}
	return grant, err
}

// enforce stops the session of c when err says its principal lost the right to it, so the
// decision is recorded (STOPPED, audited, with the reason) and the end reaches every node;
// err is returned as it came.
func (m *Manager) enforce(ctx context.Context, c auth.Claims, err error) error {
	var e *EndError
	if !errors.As(err, &e) || !errors.Is(err, ErrNotAllowed) {
		return err
	}
	if _, serr := m.Stop(ctx, c.Tenant, c.Session, "system", e.Reason); serr != nil {
		m.log.Warn("stop a session whose principal lost its rights", "org", c.Tenant, "sid", c.Session, "err", serr)
	}
	return err
}

// Regranter tells the agent of a live console session, wherever the session's console is
// connected, the grant its principal holds now. It does nothing for a session whose console
// is not connected (its next connection is admitted with the grant of that moment) or whose
// grant did not change.
type Regranter interface {
	Regrant(ctx context.Context, sid string, grant wire.Grant) error
}

// Reauthorize re-derives the rights of every live session of orgID (consoles connected and
// links not yet opened): it stops, on behalf of actor, those whose principal may no longer
// hold them, each with the reason, and hands the grant of each other session with a console
// to the Regranter, so a role lowered to viewer gives up control at once and one raised to
// operator may ask for it. Call it after any change that may take a right away or change a
// grant; the periodic Check is the backstop for changes made elsewhere. It returns how many
// sessions it stopped.
func (m *Manager) Reauthorize(ctx context.Context, orgID, actor string) (int, error) {
	type ending struct{ sid, reason string }
	type regrant struct {
		sid   string
		grant wire.Grant
	}
	var ends []ending
	var regrants []regrant
	now := m.now()
	err := m.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		live, err := tx.SessionsToReconcile(ctx)
		if err != nil {
			return err
		}
		for _, s := range live {
			dev, err := tx.Device(ctx, s.DeviceID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				ends = append(ends, ending{s.ID, "the device no longer exists"})
				continue
			case err != nil:
				return err
			case dev.RevokedAt != nil:
				ends = append(ends, ending{s.ID, "device revoked"})
				continue
			}
			grant, err := allowed(ctx, tx, s, dev, now)
			switch reason := EndReason(err); {
			case reason != "":
				ends = append(ends, ending{s.ID, reason})
			case err != nil:
				return err
			case grant != "" && s.Current != store.SessionRequested:
				// A link not yet opened has no console to tell: it is admitted with the grant
				// of the moment it connects. Principals whose rights are not stored (no grant)
				// cannot have changed.
				regrants = append(regrants, regrant{s.ID, grant})
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sessions: re-authorize %s: %w", orgID, err)
	}
	for i, e := range ends {
		if _, err := m.Stop(ctx, orgID, e.sid, actor, e.reason); err != nil {
			return i, fmt.Errorf("sessions: stop %s: %w", e.sid, err)
		}
		m.log.Info("session ended: its principal lost the right to it", "org", orgID, "sid", e.sid, "reason", e.reason, "by", actor)
	}
	if m.cfg.Regrant == nil {
		return len(ends), nil
	}
	for _, r := range regrants {
		// A grant not delivered now is delivered by the console's next periodic check.
		if err := m.cfg.Regrant.Regrant(ctx, r.sid, r.grant); err != nil {
			m.log.Warn("tell a console's agent its grant; its next session check will", "org", orgID, "sid", r.sid, "grant", r.grant, "err", err)
		}
	}
	return len(ends), nil
}
