package sessions

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// ReasonConsentRequired is a CONSENT_REQUIRED session's reason: what the person must do.
const ReasonConsentRequired = "the machine shows a 6-digit user consent code on its screen: enter it in the console, the API or kvmctl console consent"

// ReasonConsentCancelled ends a session whose consent request was withdrawn.
const ReasonConsentCancelled = "user consent cancelled"

// Bounds of a consent window as the relay records it: the agent's clock says when it closes,
// and a clock far off must neither end a session before anyone can type nor keep one waiting.
const (
	minConsentWindow = 30 * time.Second
	maxConsentWindow = 10 * time.Minute
)

// ConsentRequired records that the session's machine asks for consent until expires: a live
// session goes to CONSENT_REQUIRED (audited); one already there keeps its window.
func (m *Manager) ConsentRequired(ctx context.Context, orgID, sid string, expires time.Time) error {
	now := m.now()
	if lo := now.Add(minConsentWindow); expires.Before(lo) {
		expires = lo
	}
	if hi := now.Add(maxConsentWindow); expires.After(hi) {
		expires = hi
	}
	err := m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sid)
		if err != nil {
			return err
		}
		if s.Current == store.SessionConsentRequired || s.Current.Final() {
			return nil
		}
		if _, err := tx.RequireConsent(ctx, sid, s.Current, ReasonConsentRequired, expires, now); err != nil {
			return err
		}
		return m.auditConsent(ctx, tx, s, "system", "asked", map[string]string{"window_closes": expires.UTC().Format(time.RFC3339)})
	})
	return ignoreConflict(err)
}

// ConsentAccepted records that the machine took a code: CONSENT_REQUIRED → ACTIVE (audited).
func (m *Manager) ConsentAccepted(ctx context.Context, orgID, sid string, attempts int) error {
	now := m.now()
	err := m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sid)
		if err != nil {
			return err
		}
		if s.Current != store.SessionConsentRequired {
			return nil
		}
		if _, err := tx.TransitionSession(ctx, sid, s.Current, store.SessionActive, "", now); err != nil {
			return err
		}
		return m.auditConsent(ctx, tx, s, "system", "accepted", map[string]string{"attempts": strconv.Itoa(attempts)})
	})
	return ignoreConflict(err)
}

// ConsentFailed ends a session waiting for consent whose consent expired or was cancelled:
// ERROR with reason (audited), and its console is cut. A session not waiting (ACTIVE on a
// connection made before) is left alone.
func (m *Manager) ConsentFailed(ctx context.Context, orgID, sid, step, reason string) error {
	now := m.now()
	ended := false
	err := m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sid)
		if err != nil {
			return err
		}
		if s.Current != store.SessionConsentRequired {
			return nil
		}
		if _, err := tx.TransitionSession(ctx, sid, s.Current, store.SessionError, reason, now); err != nil {
			return err
		}
		ended = true
		return m.auditConsent(ctx, tx, s, "system", step, map[string]string{"reason": reason})
	})
	if err = ignoreConflict(err); err != nil {
		return err
	}
	if ended {
		m.disconnect(sid, reason)
	}
	return nil
}

// ConsentCodeEntered audits that actor entered a code for the session (never the code
// itself), or withdrew the request.
func (m *Manager) ConsentCodeEntered(ctx context.Context, orgID, sid, actor string, cancel bool) error {
	now := m.now()
	step := "code entered"
	if cancel {
		step = "cancel requested"
	}
	return m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sid)
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: actor, Action: store.AuditConsoleConsent,
			Target: "device:" + s.DeviceID, Details: map[string]string{"session": s.ID, "step": step}})
		return err
	})
}

// PowerAction audits a power action on the session's machine: actor asked for it (outcome
// "asked"), or the machine's outcome ("done", "failed: …"); id ties the two together.
func (m *Manager) PowerAction(ctx context.Context, orgID, sid, actor, action, id, outcome string) error {
	now := m.now()
	return m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sid)
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: actor, Action: store.AuditPowerAction,
			Target: "device:" + s.DeviceID, Details: map[string]string{"session": s.ID, "action": action, "id": id, "outcome": outcome}})
		return err
	})
}

func (m *Manager) auditConsent(ctx context.Context, tx store.Tx, s store.ConsoleSession, actor, step string, extra map[string]string) error {
	details := map[string]string{"session": s.ID, "step": step}
	for k, v := range extra {
		details[k] = v
	}
	if _, err := tx.AppendAudit(ctx, store.AuditRecord{Time: m.now(), Actor: actor, Action: store.AuditConsoleConsent,
		Target: "device:" + s.DeviceID, Details: details}); err != nil {
		return fmt.Errorf("audit consent %s: %w", step, err)
	}
	return nil
}

// ignoreConflict treats a lost compare-and-set as done: another node recorded the same report.
func ignoreConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}
