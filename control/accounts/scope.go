package accounts

import (
	"context"
	"fmt"
	"maps"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// SetScope changes the device label scope of user userID (empty: every device). p may only
// touch users it manages and only hand out a scope within its own. Audited as a role change
// (the user's access changed) with the scope before and after.
func (s *Service) SetScope(ctx context.Context, p Principal, userID string, scope map[string]string) error {
	if err := authorize(p, ManageUsers, store.RoleViewer, scope); err != nil {
		return err
	}
	if !store.ValidID(userID) {
		return fmt.Errorf("%w: user %q", ErrNotFound, userID)
	}
	scope = nonEmpty(scope)
	now := s.now()
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		if err := manageable(p, u); err != nil {
			return err
		}
		if maps.Equal(nonEmpty(u.Scope), scope) {
			return nil
		}
		from := scopeString(u.Scope)
		u.Scope = scope
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditRoleChange, Target: "user:" + u.ID,
			Details: map[string]string{"scope_from": from, "scope_to": scopeString(scope), "email": u.Email},
		})
	})
	return storeErr("set scope", err)
}
