package sessions

import (
	"context"
	"errors"
	"fmt"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
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
// console on dev: the same rights starting one requires (accounts decides, in one place).
func allowed(ctx context.Context, tx store.Tx, s store.ConsoleSession, dev store.Device) error {
	err := accounts.MayHoldConsole(ctx, tx, s.Principal, dev)
	var re *accounts.RightError
	if errors.As(err, &re) {
		return &EndError{SID: s.ID, Reason: re.Reason, kind: ErrNotAllowed}
	}
	return err
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

// Reauthorize re-derives the rights of every live session of orgID (consoles connected and
// links not yet opened) and stops, on behalf of actor, those whose principal may no longer
// hold them, each with the reason. Call it after any change that may take a right away; the
// periodic Check is the backstop for changes made elsewhere. It returns how many it stopped.
func (m *Manager) Reauthorize(ctx context.Context, orgID, actor string) (int, error) {
	type ending struct{ sid, reason string }
	var ends []ending
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
			err = allowed(ctx, tx, s, dev)
			if reason := EndReason(err); reason != "" {
				ends = append(ends, ending{s.ID, reason})
			} else if err != nil {
				return err
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
	return len(ends), nil
}
