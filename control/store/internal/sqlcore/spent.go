package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Spend inserts the value's key; the primary key turns a second insert, from any node, into
// nothing inserted, which is how the caller learns it was spent already.
func (t *Tx) Spend(ctx context.Context, kind store.SpendKind, key string, expires time.Time) error {
	switch kind {
	case store.SpendConsoleLink, store.SpendProofNonce:
	default:
		return fmt.Errorf("spend: kind %q: %w", kind, store.ErrInvalid)
	}
	if key == "" {
		return fmt.Errorf("spend %s: empty key: %w", kind, store.ErrInvalid)
	}
	n, err := t.c.Exec(ctx, `INSERT INTO spent_tokens (org_id, kind, key, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, kind, key) DO NOTHING`, t.org, string(kind), key, ts(expires))
	if err != nil {
		return fmt.Errorf("spend %s: %w", kind, err)
	}
	if n == 0 {
		return fmt.Errorf("spend %s: %w", kind, store.ErrTokenReused)
	}
	return nil
}

// PruneSpent deletes the organization's spent values that expired before now.
func (t *Tx) PruneSpent(ctx context.Context, now time.Time) (int64, error) {
	n, err := t.c.Exec(ctx, `DELETE FROM spent_tokens WHERE org_id = ? AND expires_at < ?`, t.org, ts(now))
	if err != nil {
		return 0, fmt.Errorf("prune spent tokens: %w", err)
	}
	return n, nil
}
