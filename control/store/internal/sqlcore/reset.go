package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// CreatePasswordReset stores a reset's hash for a user and registers the hash in the directory.
func (t *Tx) CreatePasswordReset(ctx context.Context, r store.PasswordReset) error {
	if r.TokenHash == "" || r.CreatedBy == "" {
		return fmt.Errorf("create password reset: token hash and issuer are required: %w", store.ErrInvalid)
	}
	if err := checkID("user", r.UserID); err != nil {
		return err
	}
	_, err := t.c.Exec(ctx, `INSERT INTO password_resets (org_id, token_hash, user_id, created_by, created_at, expires_at, used_at)
		VALUES (?, ?, ?, ?, ?, ?, NULL)`, t.org, r.TokenHash, r.UserID, r.CreatedBy, ts(r.CreatedAt), ts(r.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create password reset for user %s: %w", r.UserID, err)
	}
	return t.register(ctx, store.LookupReset, r.TokenHash)
}

// ConsumePasswordReset marks a live reset used in one conditional UPDATE, so of concurrent
// consumers only one sees it unused.
func (t *Tx) ConsumePasswordReset(ctx context.Context, hash string, now time.Time) (store.PasswordReset, error) {
	r := store.PasswordReset{TokenHash: hash, OrgID: t.org}
	if hash == "" {
		return r, fmt.Errorf("consume password reset: %w", store.ErrTokenInvalid)
	}
	now = ts(now)
	var created, expires, used timeCol
	err := t.c.QueryRow(ctx, `UPDATE password_resets SET used_at = ?
		WHERE org_id = ? AND token_hash = ? AND used_at IS NULL AND expires_at > ?
		  AND EXISTS (SELECT 1 FROM users u
		              WHERE u.org_id = password_resets.org_id AND u.id = password_resets.user_id AND NOT u.disabled)
		RETURNING user_id, created_by, created_at, expires_at, used_at`,
		now, t.org, hash, now).Scan(&r.UserID, &r.CreatedBy, &created, &expires, &used)
	if errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("consume password reset: %w", store.ErrTokenInvalid)
	}
	if err != nil {
		return r, fmt.Errorf("consume password reset: %w", err)
	}
	r.CreatedAt, r.ExpiresAt, r.UsedAt = created.T, expires.T, used.ptr()
	return r, nil
}
