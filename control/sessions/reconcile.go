package sessions

import (
	"context"
	"errors"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Run reconciles every organization's sessions each Interval until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		if err := m.ReconcileAll(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("session reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ReconcileAll runs one pass over every organization.
func (m *Manager) ReconcileAll(ctx context.Context) error {
	orgs, err := m.cfg.Store.OrganizationIDs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, org := range orgs {
		if err := m.Reconcile(ctx, org); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// verdict is what the reconciler decided for one session.
type verdict struct {
	to     store.SessionState
	reason string
	action store.AuditAction
}

// decide moves a live session toward its desired state, or ends it when it hangs.
func decide(s store.ConsoleSession, org store.Organization, linkTTL, grace time.Duration, now time.Time) (verdict, bool) {
	switch {
	case s.Desired == store.SessionStopped:
		return verdict{store.SessionStopped, "stop requested", store.AuditConsoleStop}, true
	case s.Desired == store.SessionError:
		return verdict{store.SessionError, "failed on request", store.AuditConsoleStop}, true
	case !now.Before(s.ExpiresAt):
		return verdict{store.SessionStopped, "maximum session duration reached", store.AuditConsoleTimeout}, true
	case s.Current == store.SessionIdle || s.Current == store.SessionRequested:
		if now.Sub(s.CreatedAt) >= linkTTL {
			return verdict{store.SessionError, "the console never connected", store.AuditConsoleTimeout}, true
		}
	case s.Current == store.SessionConsentRequired && s.ConsentExpiresAt != nil && !now.Before(*s.ConsentExpiresAt):
		return verdict{store.SessionError, ReasonConsentExpired, store.AuditConsoleConsent}, true
	case s.Current == store.SessionActive || s.Current == store.SessionConsentRequired:
		idle := org.Settings.IdleTimeout
		last := s.CreatedAt
		if s.LastActivity != nil {
			last = *s.LastActivity
		}
		if idle > 0 && idle < grace && now.Sub(last) >= idle {
			return verdict{store.SessionStopped, "idle timeout: no console connected", store.AuditConsoleTimeout}, true
		}
		if now.Sub(last) >= grace {
			// The console went away without saying bye (a closed tab, a lost network) and did
			// not come back within the grace a reconnect needs.
			return verdict{store.SessionStopped, ReasonConsoleGone, store.AuditConsoleTimeout}, true
		}
	}
	return verdict{}, false
}

// Reconcile runs one pass over one organization's live sessions.
func (m *Manager) Reconcile(ctx context.Context, orgID string) error {
	var org store.Organization
	var live []store.ConsoleSession
	// shareEnds holds, for sessions joined through a share, why they may not go on: the share
	// expired, the shared session ended, … (shares.go); revocation already cut them.
	shareEnds := map[string]string{}
	now := m.now()
	err := m.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		if org, err = tx.Organization(ctx); err != nil {
			return err
		}
		if live, err = tx.SessionsToReconcile(ctx); err != nil {
			return err
		}
		for _, s := range live {
			if s.ShareID == "" {
				continue
			}
			err := joinedAllowed(ctx, tx, s, now)
			if reason := EndReason(err); reason != "" {
				shareEnds[s.ID] = reason
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range live {
		v, ok := decide(s, org, m.cfg.LinkTTL, m.cfg.ReconnectGrace, now)
		if reason, ended := shareEnds[s.ID]; ended {
			v, ok = verdict{store.SessionStopped, reason, store.AuditConsoleStop}, true
		}
		if !ok {
			continue
		}
		err := m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
			if _, err := tx.TransitionSession(ctx, s.ID, s.Current, v.to, v.reason, now); err != nil {
				return err
			}
			details := map[string]string{"session": s.ID, "reason": v.reason}
			if v.action == store.AuditConsoleConsent {
				details["step"] = "expired"
			}
			_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: "system", Action: v.action,
				Target: "device:" + s.DeviceID, Details: details})
			return err
		})
		switch {
		case errors.Is(err, store.ErrConflict):
			continue // another node or request moved it first; the next pass sees the new state
		case err != nil:
			return err
		}
		m.log.Info("session ended by reconciler", "org", orgID, "sid", s.ID, "state", v.to, "reason", v.reason)
		m.disconnect(s.ID, v.reason)
	}
	return nil
}
