package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const inviteCols = `id, org_id, email, role, scope, token_hash, invited_by, created_at, expires_at, accepted_at`

func scanInvite(r Row) (store.Invitation, error) {
	var inv store.Invitation
	var scope labelsCol
	var created, expires, accepted timeCol
	err := r.Scan(&inv.ID, &inv.OrgID, &inv.Email, &inv.Role, &scope, &inv.TokenHash, &inv.InvitedBy, &created, &expires, &accepted)
	inv.Scope, inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt = scope, created.T, expires.T, accepted.ptr()
	return inv, err
}

// CreateInvitation stores an invitation; an empty ID is filled in.
func (t *Tx) CreateInvitation(ctx context.Context, inv store.Invitation) (store.Invitation, error) {
	if err := fillID("invitation", &inv.ID); err != nil {
		return inv, err
	}
	if inv.Email == "" || inv.TokenHash == "" || inv.InvitedBy == "" || !inv.Role.Valid() {
		return inv, fmt.Errorf("create invitation: email, token hash, inviter and a valid role are required: %w", store.ErrInvalid)
	}
	scope, err := encodeLabels(inv.Scope)
	if err != nil {
		return inv, err
	}
	if inv.Scope == nil {
		inv.Scope = map[string]string{}
	}
	inv.OrgID, inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt = t.org, ts(inv.CreatedAt), ts(inv.ExpiresAt), nil
	_, err = t.c.Exec(ctx, `INSERT INTO invitations (`+inviteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		inv.ID, t.org, inv.Email, string(inv.Role), scope, inv.TokenHash, inv.InvitedBy, inv.CreatedAt, inv.ExpiresAt)
	if err != nil {
		return inv, fmt.Errorf("create invitation %s: %w", inv.ID, err)
	}
	return inv, t.register(ctx, store.LookupInvite, inv.TokenHash)
}

// Invitations lists the organization's invitations, newest first.
func (t *Tx) Invitations(ctx context.Context) ([]store.Invitation, error) {
	rows, err := t.c.Query(ctx, `SELECT `+inviteCols+` FROM invitations WHERE org_id = ? ORDER BY created_at DESC, id`, t.org)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return collect(rows, scanInvite, "list invitations")
}

// AcceptInvitation is one conditional UPDATE, so of concurrent acceptances only one wins.
func (t *Tx) AcceptInvitation(ctx context.Context, hash string, at time.Time) (store.Invitation, error) {
	if hash == "" {
		return store.Invitation{}, fmt.Errorf("accept invitation: %w", store.ErrTokenInvalid)
	}
	at = ts(at)
	inv, err := scanInvite(t.c.QueryRow(ctx, `UPDATE invitations SET accepted_at = ?
		WHERE org_id = ? AND token_hash = ? AND accepted_at IS NULL AND expires_at > ?
		RETURNING `+inviteCols, at, t.org, hash, at))
	if errors.Is(err, store.ErrNotFound) {
		return inv, fmt.Errorf("accept invitation: %w", store.ErrTokenInvalid)
	}
	if err != nil {
		return inv, fmt.Errorf("accept invitation: %w", err)
	}
	return inv, nil
}
