package sqlcore

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// register adds a directory row for the transaction's organization. The (kind, key) primary
// key makes a second registration of the same key, by any tenant, ErrConflict.
func (t *Tx) register(ctx context.Context, kind store.LookupKind, key string) error {
	if key == "" {
		return fmt.Errorf("directory %s: empty key: %w", kind, store.ErrInvalid)
	}
	if _, err := t.c.Exec(ctx, `INSERT INTO directory (kind, key, org_id) VALUES (?, ?, ?)`, string(kind), key, t.org); err != nil {
		return fmt.Errorf("directory %s: %w", kind, err)
	}
	return nil
}

// Lookup resolves a public identifier to its organization. It runs outside any tenant's scope;
// PostgreSQL's policy on the directory admits every SELECT and nothing else unscoped.
func (s *Store) Lookup(ctx context.Context, kind store.LookupKind, key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("lookup %s: empty key: %w", kind, store.ErrNotFound)
	}
	var org string
	err := s.run(ctx, "", false, func(c Conn) error {
		return c.QueryRow(ctx, `SELECT org_id FROM directory WHERE kind = ? AND key = ?`, string(kind), key).Scan(&org)
	})
	if err != nil {
		return "", fmt.Errorf("lookup %s: %w", kind, err)
	}
	return org, nil
}

// OrganizationIDs lists every organization registered in the directory.
func (s *Store) OrganizationIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.run(ctx, "", false, func(c Conn) error {
		rows, err := c.Query(ctx, `SELECT org_id FROM directory WHERE kind = ? ORDER BY org_id`, string(store.LookupOrgSlug))
		if err != nil {
			return err
		}
		ids, err = collect(rows, func(r Row) (string, error) {
			var id string
			return id, r.Scan(&id)
		}, "list organizations")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return ids, nil
}
