package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// sessionCols quotes "grant": it is a reserved word in SQL.
const sessionCols = `id, org_id, device_id, principal, desired_state, current_state, reason,
	created_at, updated_at, started_at, ended_at, expires_at, last_activity_at, consent_expires_at,
	"grant", share_id, display_name`

func scanSession(r Row) (store.ConsoleSession, error) {
	var s store.ConsoleSession
	var created, updated, started, ended, expires, activity, consent timeCol
	var grant, share nullText
	err := r.Scan(&s.ID, &s.OrgID, &s.DeviceID, &s.Principal, &s.Desired, &s.Current, &s.Reason,
		&created, &updated, &started, &ended, &expires, &activity, &consent, &grant, &share, &s.DisplayName)
	s.CreatedAt, s.UpdatedAt, s.StartedAt, s.EndedAt, s.ExpiresAt = created.T, updated.T, started.ptr(), ended.ptr(), expires.T
	s.LastActivity, s.ConsentExpiresAt = activity.ptr(), consent.ptr()
	s.Grant, s.ShareID = string(grant), string(share)
	return s, err
}

// validGrant mirrors wire.Grant's values; the store keeps them as text and does not depend on
// the wire package.
func validGrant(g string) bool { return g == "view" || g == "control" || g == "admin" }

// CreateSession inserts a session; an empty ID is filled in, empty states default to IDLE.
func (t *Tx) CreateSession(ctx context.Context, s store.ConsoleSession) (store.ConsoleSession, error) {
	if err := fillID("session", &s.ID); err != nil {
		return s, err
	}
	if err := checkID("device", s.DeviceID); err != nil {
		return s, err
	}
	if s.Current == "" {
		s.Current = store.SessionIdle
	}
	if s.Desired == "" {
		s.Desired = s.Current
	}
	if !s.Current.Valid() || !s.Desired.Valid() || s.Principal == "" {
		return s, fmt.Errorf("create session: states %q/%q, principal %q: %w", s.Desired, s.Current, s.Principal, store.ErrInvalid)
	}
	if s.Grant != "" && !validGrant(s.Grant) {
		return s, fmt.Errorf("create session: grant %q: %w", s.Grant, store.ErrInvalid)
	}
	if s.ShareID != "" {
		if err := t.checkShareOf(ctx, s); err != nil {
			return s, err
		}
	}
	s.OrgID, s.CreatedAt, s.ExpiresAt = t.org, ts(s.CreatedAt), ts(s.ExpiresAt)
	s.UpdatedAt, s.StartedAt, s.EndedAt = s.CreatedAt, tsPtrVal(s.StartedAt), tsPtrVal(s.EndedAt)
	s.LastActivity, s.ConsentExpiresAt = tsPtrVal(s.LastActivity), tsPtrVal(s.ConsentExpiresAt)
	_, err := t.c.Exec(ctx, `INSERT INTO console_sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, t.org, s.DeviceID, s.Principal, string(s.Desired), string(s.Current), s.Reason,
		s.CreatedAt, s.UpdatedAt, tsPtr(s.StartedAt), tsPtr(s.EndedAt), s.ExpiresAt, tsPtr(s.LastActivity), tsPtr(s.ConsentExpiresAt),
		orNull(s.Grant), orNull(s.ShareID), s.DisplayName)
	if err != nil {
		return s, fmt.Errorf("create session %s: %w", s.ID, err)
	}
	return s, nil
}

// Session returns one session of the organization.
func (t *Tx) Session(ctx context.Context, id string) (store.ConsoleSession, error) {
	if err := checkID("session", id); err != nil {
		return store.ConsoleSession{}, err
	}
	s, err := scanSession(t.c.QueryRow(ctx, `SELECT `+sessionCols+` FROM console_sessions WHERE org_id = ? AND id = ?`, t.org, id))
	if err != nil {
		return s, fmt.Errorf("session %s: %w", id, err)
	}
	return s, nil
}

// SessionsToReconcile lists the organization's sessions that are not STOPPED or ERROR.
func (t *Tx) SessionsToReconcile(ctx context.Context) ([]store.ConsoleSession, error) {
	rows, err := t.c.Query(ctx, `SELECT `+sessionCols+` FROM console_sessions
		WHERE org_id = ? AND current_state NOT IN ('STOPPED', 'ERROR') ORDER BY created_at, id`, t.org)
	if err != nil {
		return nil, fmt.Errorf("sessions to reconcile: %w", err)
	}
	return collect(rows, scanSession, "sessions to reconcile")
}

// SessionsForDevice lists a device's sessions, newest first.
func (t *Tx) SessionsForDevice(ctx context.Context, deviceID string, limit int) ([]store.ConsoleSession, error) {
	if err := checkID("device", deviceID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := t.c.Query(ctx, `SELECT `+sessionCols+` FROM console_sessions
		WHERE org_id = ? AND device_id = ? ORDER BY created_at DESC, id LIMIT ?`, t.org, deviceID, limit)
	if err != nil {
		return nil, fmt.Errorf("sessions of device %s: %w", deviceID, err)
	}
	return collect(rows, scanSession, "sessions of device")
}

// TouchSession records console activity; only live sessions move.
func (t *Tx) TouchSession(ctx context.Context, id string, at time.Time) error {
	if err := checkID("session", id); err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE console_sessions SET last_activity_at = ?
		WHERE org_id = ? AND id = ? AND current_state NOT IN ('STOPPED', 'ERROR')`, ts(at), t.org, id)
	return exactlyOne(n, err, "touch session", id)
}

// SetSessionDesired records where the session should go.
func (t *Tx) SetSessionDesired(ctx context.Context, id string, desired store.SessionState, at time.Time) error {
	if err := checkID("session", id); err != nil {
		return err
	}
	if !desired.Valid() {
		return fmt.Errorf("set desired state %q: %w", desired, store.ErrInvalid)
	}
	n, err := t.c.Exec(ctx, `UPDATE console_sessions SET desired_state = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
		string(desired), ts(at), t.org, id)
	return exactlyOne(n, err, "set desired state of session", id)
}

// SetSessionGrant records a session's current grant; a session joined through a share keeps
// view (checked here so both databases answer ErrInvalid alike).
func (t *Tx) SetSessionGrant(ctx context.Context, id, grant string) error {
	if err := checkID("session", id); err != nil {
		return err
	}
	if !validGrant(grant) {
		return fmt.Errorf("set grant %q: %w", grant, store.ErrInvalid)
	}
	n, err := t.c.Exec(ctx, `UPDATE console_sessions SET "grant" = ? WHERE org_id = ? AND id = ? AND (share_id IS NULL OR ? = 'view')`,
		grant, t.org, id, grant)
	if err == nil && n == 0 {
		if s, gerr := t.Session(ctx, id); gerr != nil {
			return gerr
		} else if s.ShareID != "" {
			return fmt.Errorf("set grant of session %s joined through a share: %w", id, store.ErrInvalid)
		}
	}
	return exactlyOne(n, err, "set grant of session", id)
}

// TransitionSession is a compare-and-set on current_state, stamping started_at on ACTIVE and
// ended_at on a final state.
func (t *Tx) TransitionSession(ctx context.Context, id string, from, to store.SessionState, reason string, at time.Time) (store.ConsoleSession, error) {
	if err := checkID("session", id); err != nil {
		return store.ConsoleSession{}, err
	}
	if !store.CanTransition(from, to) || to == store.SessionConsentRequired {
		return store.ConsoleSession{}, fmt.Errorf("session %s %s → %s: %w", id, from, to, store.ErrInvalidTransition)
	}
	return t.transition(ctx, id, from, to, reason, nil, at)
}

// RequireConsent moves a session from → CONSENT_REQUIRED with its consent window.
func (t *Tx) RequireConsent(ctx context.Context, id string, from store.SessionState, reason string, expires, at time.Time) (store.ConsoleSession, error) {
	if err := checkID("session", id); err != nil {
		return store.ConsoleSession{}, err
	}
	if !store.CanTransition(from, store.SessionConsentRequired) {
		return store.ConsoleSession{}, fmt.Errorf("session %s %s → %s: %w", id, from, store.SessionConsentRequired, store.ErrInvalidTransition)
	}
	expires = ts(expires)
	return t.transition(ctx, id, from, store.SessionConsentRequired, reason, &expires, at)
}

// transition is the compare-and-set behind TransitionSession and RequireConsent; consent is
// the window to record (nil clears it).
func (t *Tx) transition(ctx context.Context, id string, from, to store.SessionState, reason string, consent *time.Time, at time.Time) (store.ConsoleSession, error) {
	at = ts(at)
	var started, ended any
	if to == store.SessionActive {
		started = at
	}
	if to.Final() {
		ended = at
	}
	s, err := scanSession(t.c.QueryRow(ctx, `UPDATE console_sessions
		SET current_state = ?, reason = ?, updated_at = ?,
		    started_at = COALESCE(started_at, ?), ended_at = COALESCE(?, ended_at),
		    consent_expires_at = ?
		WHERE org_id = ? AND id = ? AND current_state = ?
		RETURNING `+sessionCols, string(to), reason, at, started, ended, tsPtr(consent), t.org, id, string(from)))
	if errors.Is(err, store.ErrNotFound) {
		// Tell a lost race from a missing session.
		if _, gerr := t.Session(ctx, id); gerr != nil {
			return s, gerr
		}
		return s, fmt.Errorf("session %s is no longer %s: %w", id, from, store.ErrConflict)
	}
	if err != nil {
		return s, fmt.Errorf("session %s %s → %s: %w", id, from, to, err)
	}
	return s, nil
}
