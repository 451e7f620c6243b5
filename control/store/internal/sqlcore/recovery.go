package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// ReplaceRecoveryCodes drops the user's codes and stores the new hashes.
func (t *Tx) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	if err := checkID("user", userID); err != nil {
		return err
	}
	if _, err := t.c.Exec(ctx, `DELETE FROM recovery_codes WHERE org_id = ? AND user_id = ?`, t.org, userID); err != nil {
		return fmt.Errorf("replace recovery codes of user %s: %w", userID, err)
	}
	for _, h := range hashes {
		if h == "" {
			return fmt.Errorf("replace recovery codes: empty hash: %w", store.ErrInvalid)
		}
		if _, err := t.c.Exec(ctx, `INSERT INTO recovery_codes (org_id, user_id, code_hash) VALUES (?, ?, ?)`,
			t.org, userID, h); err != nil {
			return fmt.Errorf("replace recovery codes of user %s: %w", userID, err)
		}
	}
	return nil
}

// UseRecoveryCode marks one unused code used in a conditional UPDATE (single use under races).
func (t *Tx) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) error {
	if err := checkID("user", userID); err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE recovery_codes SET used_at = ?
		WHERE org_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL`, ts(at), t.org, userID, hash)
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("use recovery code: %w", store.ErrTokenInvalid)
	}
	return nil
}
