package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const apiKeyCols = `id, org_id, prefix, key_hash, name, role, scope, created_at, revoked_at`

func scanAPIKey(r Row) (store.APIKey, error) {
	var k store.APIKey
	var created, revoked timeCol
	var scope labelsCol
	err := r.Scan(&k.ID, &k.OrgID, &k.Prefix, &k.Hash, &k.Name, &k.Role, &scope, &created, &revoked)
	k.CreatedAt, k.RevokedAt, k.Scope = created.T, revoked.ptr(), scope
	return k, err
}

// CreateAPIKey stores a key; an empty ID is filled in. A duplicate prefix is ErrConflict.
func (t *Tx) CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	if err := fillID("api key", &k.ID); err != nil {
		return k, err
	}
	if k.Prefix == "" || k.Hash == "" || !k.Role.Valid() {
		return k, fmt.Errorf("create api key: prefix, hash and a valid role are required: %w", store.ErrInvalid)
	}
	scope, err := encodeLabels(k.Scope)
	if err != nil {
		return k, err
	}
	if k.Scope == nil {
		k.Scope = map[string]string{}
	}
	k.OrgID, k.CreatedAt, k.RevokedAt = t.org, ts(k.CreatedAt), nil
	_, err = t.c.Exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		k.ID, t.org, k.Prefix, k.Hash, k.Name, string(k.Role), scope, k.CreatedAt)
	if err != nil {
		return k, fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return k, t.register(ctx, store.LookupAPIKey, k.Prefix)
}

// APIKeyByPrefix finds a key of the organization by its public prefix.
func (t *Tx) APIKeyByPrefix(ctx context.Context, prefix string) (store.APIKey, error) {
	k, err := scanAPIKey(t.c.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE org_id = ? AND prefix = ?`, t.org, prefix))
	if err != nil {
		return k, fmt.Errorf("api key by prefix: %w", err)
	}
	return k, nil
}

// APIKeys lists the organization's keys, newest first.
func (t *Tx) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := t.c.Query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE org_id = ? ORDER BY created_at DESC, id`, t.org)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return collect(rows, scanAPIKey, "list api keys")
}

// RevokeAPIKey marks a key revoked; revoking again keeps the first time.
func (t *Tx) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if err := checkID("api key", id); err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE org_id = ? AND id = ?`, ts(at), t.org, id)
	return exactlyOne(n, err, "revoke api key", id)
}
