package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// CreateEnrollmentToken stores a token's hash for a device of the organization.
func (t *Tx) CreateEnrollmentToken(ctx context.Context, tok store.EnrollmentToken) error {
	if tok.Hash == "" {
		return fmt.Errorf("create enrollment token: empty hash: %w", store.ErrInvalid)
	}
	if err := checkID("device", tok.DeviceID); err != nil {
		return err
	}
	_, err := t.c.Exec(ctx, `INSERT INTO enrollment_tokens (org_id, token_hash, device_id, created_at, expires_at, used_at)
		VALUES (?, ?, ?, ?, ?, NULL)`, t.org, tok.Hash, tok.DeviceID, ts(tok.CreatedAt), ts(tok.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create enrollment token for device %s: %w", tok.DeviceID, err)
	}
	return t.register(ctx, store.LookupEnrollment, tok.Hash)
}

// ConsumeEnrollmentToken marks a live token used in one conditional UPDATE, so concurrent
// consumers race on the row and only one sees it unused.
func (t *Tx) ConsumeEnrollmentToken(ctx context.Context, hash string, now time.Time) (store.EnrollmentToken, error) {
	tok := store.EnrollmentToken{Hash: hash, OrgID: t.org}
	if hash == "" {
		return tok, fmt.Errorf("consume enrollment token: %w", store.ErrTokenInvalid)
	}
	now = ts(now)
	var created, expires, used timeCol
	err := t.c.QueryRow(ctx, `UPDATE enrollment_tokens SET used_at = ?
		WHERE org_id = ? AND token_hash = ? AND used_at IS NULL AND expires_at > ?
		  AND EXISTS (SELECT 1 FROM devices d
		              WHERE d.org_id = enrollment_tokens.org_id AND d.id = enrollment_tokens.device_id
		                AND d.revoked_at IS NULL)
		RETURNING device_id, created_at, expires_at, used_at`,
		now, t.org, hash, now).Scan(&tok.DeviceID, &created, &expires, &used)
	if errors.Is(err, store.ErrNotFound) {
		return tok, fmt.Errorf("consume enrollment token: %w", store.ErrTokenInvalid)
	}
	if err != nil {
		return tok, fmt.Errorf("consume enrollment token: %w", err)
	}
	tok.CreatedAt, tok.ExpiresAt, tok.UsedAt = created.T, expires.T, used.ptr()
	return tok, nil
}
