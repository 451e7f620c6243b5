package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const shareCols = `id, org_id, session_id, kind, token_hash, created_by, created_at, expires_at, revoked_at`

func scanShare(r Row) (store.Share, error) {
	var sh store.Share
	var created, expires, revoked timeCol
	err := r.Scan(&sh.ID, &sh.OrgID, &sh.SessionID, &sh.Kind, &sh.TokenHash, &sh.CreatedBy, &created, &expires, &revoked)
	sh.CreatedAt, sh.ExpiresAt, sh.RevokedAt = created.T, expires.ptr(), revoked.ptr()
	return sh, err
}

// CreateShare stores a share of a session of the organization and registers its token hash.
func (t *Tx) CreateShare(ctx context.Context, sh store.Share) (store.Share, error) {
	if err := fillID("share", &sh.ID); err != nil {
		return sh, err
	}
	if err := checkID("session", sh.SessionID); err != nil {
		return sh, err
	}
	if !sh.Kind.Valid() || sh.TokenHash == "" || sh.CreatedBy == "" || (sh.Kind == store.ShareGuest && sh.ExpiresAt == nil) {
		return sh, fmt.Errorf("create share: a kind, token hash, creator and (guest) an expiry are required: %w", store.ErrInvalid)
	}
	// The composite foreign key refuses another organization's session too, but as a driver
	// error; this says ErrNotFound alike on both databases.
	if _, err := t.Session(ctx, sh.SessionID); err != nil {
		return sh, fmt.Errorf("create share: %w", err)
	}
	sh.OrgID, sh.CreatedAt, sh.ExpiresAt, sh.RevokedAt = t.org, ts(sh.CreatedAt), tsPtrVal(sh.ExpiresAt), nil
	_, err := t.c.Exec(ctx, `INSERT INTO session_shares (`+shareCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		sh.ID, t.org, sh.SessionID, string(sh.Kind), sh.TokenHash, sh.CreatedBy, sh.CreatedAt, tsPtr(sh.ExpiresAt))
	if err != nil {
		return sh, fmt.Errorf("create share %s: %w", sh.ID, err)
	}
	return sh, t.register(ctx, store.LookupShare, sh.TokenHash)
}

// Share returns one share of the organization.
func (t *Tx) Share(ctx context.Context, id string) (store.Share, error) {
	if err := checkID("share", id); err != nil {
		return store.Share{}, err
	}
	sh, err := scanShare(t.c.QueryRow(ctx, `SELECT `+shareCols+` FROM session_shares WHERE org_id = ? AND id = ?`, t.org, id))
	if err != nil {
		return sh, fmt.Errorf("share %s: %w", id, err)
	}
	return sh, nil
}

// ShareByTokenHash finds a share of the organization by its token's hash.
func (t *Tx) ShareByTokenHash(ctx context.Context, hash string) (store.Share, error) {
	if hash == "" {
		return store.Share{}, fmt.Errorf("share by token: %w", store.ErrNotFound)
	}
	sh, err := scanShare(t.c.QueryRow(ctx, `SELECT `+shareCols+` FROM session_shares WHERE org_id = ? AND token_hash = ?`, t.org, hash))
	if err != nil {
		return sh, fmt.Errorf("share by token: %w", err)
	}
	return sh, nil
}

// SharesOfSession lists a session's shares, newest first.
func (t *Tx) SharesOfSession(ctx context.Context, sessionID string) ([]store.Share, error) {
	if err := checkID("session", sessionID); err != nil {
		return nil, err
	}
	rows, err := t.c.Query(ctx, `SELECT `+shareCols+` FROM session_shares WHERE org_id = ? AND session_id = ?
		ORDER BY created_at DESC, id`, t.org, sessionID)
	if err != nil {
		return nil, fmt.Errorf("shares of session %s: %w", sessionID, err)
	}
	return collect(rows, scanShare, "shares of session")
}

// RevokeShare stamps revoked_at once; a second revocation keeps the first time.
func (t *Tx) RevokeShare(ctx context.Context, id string, at time.Time) (store.Share, error) {
	if err := checkID("share", id); err != nil {
		return store.Share{}, err
	}
	sh, err := scanShare(t.c.QueryRow(ctx, `UPDATE session_shares SET revoked_at = COALESCE(revoked_at, ?)
		WHERE org_id = ? AND id = ? RETURNING `+shareCols, ts(at), t.org, id))
	if err != nil {
		return sh, fmt.Errorf("revoke share %s: %w", id, err)
	}
	return sh, nil
}

// SessionsOfShare lists the sessions joined through a share, oldest first.
func (t *Tx) SessionsOfShare(ctx context.Context, shareID string) ([]store.ConsoleSession, error) {
	if err := checkID("share", shareID); err != nil {
		return nil, err
	}
	rows, err := t.c.Query(ctx, `SELECT `+sessionCols+` FROM console_sessions WHERE org_id = ? AND share_id = ?
		ORDER BY created_at, id`, t.org, shareID)
	if err != nil {
		return nil, fmt.Errorf("sessions of share %s: %w", shareID, err)
	}
	return collect(rows, scanSession, "sessions of share")
}

// checkShareOf refuses a session joining through a share the organization does not have, or
// one of another device (share_id has no foreign key, see migration 8), or with a grant
// other than view.
func (t *Tx) checkShareOf(ctx context.Context, s store.ConsoleSession) error {
	sh, err := t.Share(ctx, s.ShareID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("create session: share %s: %w", s.ShareID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	parent, err := t.Session(ctx, sh.SessionID)
	if err != nil {
		return fmt.Errorf("create session: shared session: %w", err)
	}
	if parent.DeviceID != s.DeviceID || s.Grant != "view" {
		return fmt.Errorf("create session: a session joined through a share watches the shared session's device: %w", store.ErrInvalid)
	}
	return nil
}
