package sessions

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Shared sessions: several consoles watch one machine, one of them in control. The machine's
// agent decides who holds control; the relay audits what it reports, in the organization's
// chain, with the principals the store holds for the sessions involved — never names or
// principals an agent sent.

// ConsoleJoined audits that a console connection of session sid joined its machine, with the
// grant it was admitted with. The session's principal is the actor.
func (m *Manager) ConsoleJoined(ctx context.Context, orgID, sid string, grant wire.Grant) error {
	return m.auditSession(ctx, orgID, sid, store.AuditConsoleJoin, func(s store.ConsoleSession) (string, map[string]string) {
		return s.Principal, map[string]string{"session": s.ID, "grant": string(grant)}
	})
}

// ConsoleLeft audits that a console connection of session sid left its machine, and why.
func (m *Manager) ConsoleLeft(ctx context.Context, orgID, sid, reason string) error {
	return m.auditSession(ctx, orgID, sid, store.AuditConsoleLeave, func(s store.ConsoleSession) (string, map[string]string) {
		return s.Principal, map[string]string{"session": s.ID, "reason": reason}
	})
}

// ControlMove is one move of control as a machine's agent reported it (wire.RosterEvent): its
// Kind, the session it concerns (Subject), the session that acted (By; empty when the agent
// decided, or the subject acted alone) and the agent's Reason.
type ControlMove struct {
	Subject string
	Kind    string
	By      string
	Reason  string
}

// ControlMoved audits a move of control. Both sessions must be of the same device of orgID.
// The actor is By's principal; without By, "system" when the agent decided (a request timed
// out, a grant changed, control lost for a reason), else the subject's principal (its own
// request, withdrawal or release).
func (m *Manager) ControlMoved(ctx context.Context, orgID string, mv ControlMove) error {
	now := m.now()
	return m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		subject, err := tx.Session(ctx, mv.Subject)
		if err != nil {
			return fmt.Errorf("control move: subject session %s: %w", mv.Subject, err)
		}
		details := map[string]string{"session": subject.ID, "kind": mv.Kind, "subject": subject.Principal}
		if mv.Reason != "" {
			details["reason"] = mv.Reason
		}
		if subject.DisplayName != "" {
			details["subject_name"] = subject.DisplayName
		}
		actor, actorName := subject.Principal, guestActorName(subject)
		switch {
		case mv.By != "":
			by, err := tx.Session(ctx, mv.By)
			if err != nil {
				return fmt.Errorf("control move: acting session %s: %w", mv.By, err)
			}
			if by.DeviceID != subject.DeviceID {
				return fmt.Errorf("control move: sessions %s and %s are of different devices: %w", by.ID, subject.ID, ErrMismatch)
			}
			actor, actorName = by.Principal, guestActorName(by)
			details["by"], details["by_session"] = by.Principal, by.ID
			if by.DisplayName != "" {
				details["by_name"] = by.DisplayName
			}
		case mv.Kind == wire.EventTimedOut || mv.Kind == wire.EventRegranted || mv.Reason != "":
			actor, actorName = "system", ""
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: actor, ActorName: actorName, Action: store.AuditConsoleControl,
			Target: "device:" + subject.DeviceID, Details: details})
		return err
	})
}

// InputBurst is a stretch of input one session sent while it held control, as the agent
// counted it: never the keys, only how many and their digest.
type InputBurst struct {
	Session  string
	From, To time.Time
	Keys     int
	Pointer  int
	Digest   string
	// Final marks the last burst of a stretch of control.
	Final bool
}

// InputSent audits a burst of input; the session's principal is the actor.
func (m *Manager) InputSent(ctx context.Context, orgID string, b InputBurst) error {
	return m.auditSession(ctx, orgID, b.Session, store.AuditConsoleInput, func(s store.ConsoleSession) (string, map[string]string) {
		return s.Principal, map[string]string{
			"session": s.ID,
			"from":    b.From.UTC().Format(time.RFC3339Nano),
			"to":      b.To.UTC().Format(time.RFC3339Nano),
			"keys":    strconv.Itoa(b.Keys),
			"pointer": strconv.Itoa(b.Pointer),
			"digest":  b.Digest,
			"final":   strconv.FormatBool(b.Final),
		}
	})
}

// auditSession appends one record about session sid of orgID: record names the actor and
// the details from the stored session; the target is the session's device.
func (m *Manager) auditSession(ctx context.Context, orgID, sid string, action store.AuditAction,
	record func(store.ConsoleSession) (actor string, details map[string]string)) error {
	now := m.now()
	return m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sid)
		if err != nil {
			return fmt.Errorf("audit %s: session %s: %w", action, sid, err)
		}
		actor, details := record(s)
		var actorName string
		if actor == s.Principal && s.DisplayName != "" {
			actorName, details["name"] = guestActorName(s), s.DisplayName
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: actor, ActorName: actorName, Action: action,
			Target: "device:" + s.DeviceID, Details: details})
		return err
	})
}

// guestActorName is how the audit chain names session s's principal when the store cannot
// (a guest: "Jane (guest)"); "" lets the store name everyone else.
func guestActorName(s store.ConsoleSession) string {
	if s.DisplayName == "" {
		return ""
	}
	return GuestName(s.DisplayName)
}
