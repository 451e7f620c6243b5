package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// CreateRefreshToken stores the first (or next) token of a family.
func (t *Tx) CreateRefreshToken(ctx context.Context, rt store.RefreshToken) error {
	if rt.Hash == "" {
		return fmt.Errorf("create refresh token: empty hash: %w", store.ErrInvalid)
	}
	if err := checkID("family", rt.FamilyID); err != nil {
		return err
	}
	if err := checkID("user", rt.UserID); err != nil {
		return err
	}
	_, err := t.c.Exec(ctx, `INSERT INTO refresh_tokens (org_id, token_hash, family_id, user_id, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, t.org, rt.Hash, rt.FamilyID, rt.UserID, ts(rt.CreatedAt), ts(rt.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create refresh token in family %s: %w", rt.FamilyID, err)
	}
	return t.register(ctx, store.LookupRefresh, rt.Hash)
}

// RotateRefreshToken retires oldHash with a conditional UPDATE (so two concurrent rotations of
// one token cannot both succeed) and stores next in the same family for the same user.
func (t *Tx) RotateRefreshToken(ctx context.Context, oldHash string, next store.RefreshToken) error {
	now := ts(next.CreatedAt)
	var family, user string
	err := t.c.QueryRow(ctx, `UPDATE refresh_tokens SET rotated_at = ?
		WHERE org_id = ? AND token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?
		RETURNING family_id, user_id`, now, t.org, oldHash, now).Scan(&family, &user)
	if errors.Is(err, store.ErrNotFound) {
		var rotated, revoked timeCol
		err := t.c.QueryRow(ctx, `SELECT rotated_at, revoked_at FROM refresh_tokens WHERE org_id = ? AND token_hash = ?`,
			t.org, oldHash).Scan(&rotated, &revoked)
		if err == nil && (rotated.Valid || revoked.Valid) {
			return fmt.Errorf("rotate refresh token: %w", store.ErrTokenReused)
		}
		return fmt.Errorf("rotate refresh token: %w", store.ErrTokenInvalid)
	}
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	next.FamilyID, next.UserID = family, user
	return t.CreateRefreshToken(ctx, next)
}

// RevokeRefreshFamily revokes every live token of a family.
func (t *Tx) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	if err := checkID("family", familyID); err != nil {
		return err
	}
	if _, err := t.c.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE org_id = ? AND family_id = ? AND revoked_at IS NULL`,
		ts(at), t.org, familyID); err != nil {
		return fmt.Errorf("revoke refresh family %s: %w", familyID, err)
	}
	return nil
}

// RevokeUserRefreshTokens revokes every live token of every family of the user.
func (t *Tx) RevokeUserRefreshTokens(ctx context.Context, userID string, at time.Time) error {
	if err := checkID("user", userID); err != nil {
		return err
	}
	if _, err := t.c.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE org_id = ? AND user_id = ? AND revoked_at IS NULL`,
		ts(at), t.org, userID); err != nil {
		return fmt.Errorf("revoke refresh tokens of user %s: %w", userID, err)
	}
	return nil
}
