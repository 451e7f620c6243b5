package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// authorize checks that p may do action and hand out role and scope: a role granting
// nothing p's does not, a scope within p's own.
func authorize(p Principal, action Action, role store.Role, scope map[string]string) error {
	if !p.Can(action) {
		return fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, action)
	}
	if !role.Valid() {
		return fmt.Errorf("%w: unknown role %q", ErrInvalid, role)
	}
	if !RoleWithin(role, p.Role) {
		return fmt.Errorf("%w: role %s exceeds %s", ErrForbidden, role, p.Role)
	}
	if err := validScope(scope); err != nil {
		return err
	}
	if !ScopeWithin(scope, p.Scope) {
		return fmt.Errorf("%w: scope %q is wider than %q", ErrForbidden, scopeString(scope), scopeString(p.Scope))
	}
	return nil
}

// CreateAPIKey makes a key for automation, with a role no stronger than p's and a scope no
// wider. The plaintext is returned once; only the hash of its secret is stored.
func (s *Service) CreateAPIKey(ctx context.Context, p Principal, name string, role store.Role, scope map[string]string) (string, store.APIKey, error) {
	if err := authorize(p, ManageAPIKeys, role, scope); err != nil {
		return "", store.APIKey{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || hasControl(name) {
		return "", store.APIKey{}, fmt.Errorf("%w: key name must be 1-100 printable bytes", ErrInvalid)
	}
	plaintext, prefix, hash := newAPIKey()
	now := s.now()
	var k store.APIKey
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		k, err = tx.CreateAPIKey(ctx, store.APIKey{Prefix: prefix, Hash: hash, Name: name, Role: role, Scope: scope, CreatedAt: now})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditAPIKeyCreate, Target: "apikey:" + k.ID,
			Details: map[string]string{"name": name, "role": string(role), "prefix": prefix, "scope": scopeString(scope)},
		})
	})
	if err != nil {
		return "", store.APIKey{}, storeErr("create API key", err)
	}
	return plaintext, k, nil
}

// RevokeAPIKey revokes a key at once. p may revoke only keys it could have created.
func (s *Service) RevokeAPIKey(ctx context.Context, p Principal, id string) error {
	if !p.Can(ManageAPIKeys) {
		return fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageAPIKeys)
	}
	if !store.ValidID(id) {
		return fmt.Errorf("%w: API key %q", ErrNotFound, id)
	}
	now := s.now()
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		keys, err := tx.APIKeys(ctx)
		if err != nil {
			return err
		}
		var k *store.APIKey
		for i := range keys {
			if keys[i].ID == id {
				k = &keys[i]
			}
		}
		if k == nil {
			return fmt.Errorf("%w: API key %s", ErrNotFound, id)
		}
		if !RoleWithin(k.Role, p.Role) || !ScopeWithin(k.Scope, p.Scope) {
			return fmt.Errorf("%w: API key %s has more access than %s", ErrForbidden, id, p)
		}
		if k.RevokedAt != nil {
			return nil
		}
		if err := tx.RevokeAPIKey(ctx, id, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditAPIKeyRevoke, Target: "apikey:" + id,
			Details: map[string]string{"name": k.Name, "prefix": k.Prefix},
		})
	})
	return storeErr("revoke API key", err)
}

// Invite invites email to p's organization with a role no stronger than p's and a scope no
// wider. The invitation is single use and expires after InviteTTL. Without a Mailer the link
// is returned for p to pass on; with one, it is mailed and the returned link is empty — if
// sending fails the invitation still stands, and the link comes back with an error matching
// ErrMail.
func (s *Service) Invite(ctx context.Context, p Principal, email string, role store.Role, scope map[string]string) (string, store.Invitation, error) {
	if err := authorize(p, ManageUsers, role, scope); err != nil {
		return "", store.Invitation{}, err
	}
	email = normalizeEmail(email)
	if err := validEmail(email); err != nil {
		return "", store.Invitation{}, err
	}
	token, hash := newInviteToken()
	now := s.now()
	var inv store.Invitation
	var orgName string
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		if _, err := tx.UserByEmail(ctx, email); err == nil {
			return fmt.Errorf("%w: %s is already a user", ErrConflict, email)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		org, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		orgName = org.Name
		inv, err = tx.CreateInvitation(ctx, store.Invitation{
			Email: email, Role: role, Scope: scope, TokenHash: hash, InvitedBy: p.String(),
			CreatedAt: now, ExpiresAt: now.Add(s.cfg.InviteTTL),
		})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditInvite, Target: "invitation:" + inv.ID,
			Details: map[string]string{"event": "invited", "email": email, "role": string(role), "scope": scopeString(scope)},
		})
	})
	if err != nil {
		return "", store.Invitation{}, storeErr("invite", err)
	}
	link := s.consoleLink(linkInvite, token)
	if s.cfg.Mailer == nil {
		return link, inv, nil
	}
	subject := "Invitation to " + orgName + " on kvmrelay"
	body := fmt.Sprintf("You are invited to join %s on kvmrelay as %s.\n\nAccept within %s by opening:\n\n%s\n\nIf you did not expect this, ignore this message.\n",
		orgName, role, s.cfg.InviteTTL, link)
	if err := s.cfg.Mailer.Send(ctx, email, subject, body); err != nil {
		s.log.Warn("invitation mail failed", "org", p.OrgID, "invitation", inv.ID, "err", err)
		return link, inv, fmt.Errorf("%w: %w", ErrMail, err)
	}
	return "", inv, nil
}

// The fragments of the links this package hands out; the web console routes on them.
const (
	linkInvite = "invite" // an invitation: POST /invitations/accept
	linkReset  = "reset"  // a password reset: POST /password-resets/accept
)

// consoleLink is the one place that builds the links mailed to people (or handed to the admin
// to pass on): the web console with the token in the fragment, so it never reaches a server
// log or a Referer header.
func (s *Service) consoleLink(kind, token string) string {
	return s.cfg.PublicURL + "/console/#" + kind + "=" + token
}

// AcceptInvite redeems an invitation: it makes the user with the invited email, role and
// scope, and the password given. Each invitation works once, before it expires. Attempts are
// limited per client address, as for reset links.
func (s *Service) AcceptInvite(ctx context.Context, token, password, clientAddr string) (store.User, error) {
	hash, err := parseInviteToken(token)
	if err != nil {
		return store.User{}, err
	}
	orgID, pwHash, err := s.redeemable(ctx, clientAddr, store.LookupInvite, hash, password, "invitation")
	if err != nil {
		return store.User{}, err
	}
	now := s.now()
	var u store.User
	err = s.store.Write(ctx, orgID, func(tx store.Tx) error {
		inv, err := tx.AcceptInvitation(ctx, hash, now)
		if errors.Is(err, store.ErrTokenInvalid) {
			return fmt.Errorf("%w: invitation used or expired", ErrInvalidToken)
		}
		if err != nil {
			return err
		}
		u, err = tx.CreateUser(ctx, store.User{Email: inv.Email, PasswordHash: pwHash, Role: inv.Role, Scope: inv.Scope, CreatedAt: now})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: "user:" + u.ID, Action: store.AuditInviteAccept, Target: "invitation:" + inv.ID,
			Details: map[string]string{"email": inv.Email, "role": string(inv.Role), "scope": scopeString(inv.Scope), "invited_by": inv.InvitedBy},
		})
	})
	if err != nil {
		return store.User{}, storeErr("accept invitation", err)
	}
	s.log.Info("invitation accepted", "org", orgID, "user", u.ID, "role", u.Role)
	return u, nil
}

// SetRole changes a user's role. p may neither grant a role stronger than its own nor touch a
// user who has one, and the last owner cannot be demoted.
func (s *Service) SetRole(ctx context.Context, p Principal, userID string, role store.Role) error {
	if err := authorize(p, ManageUsers, role, nil); err != nil {
		return err
	}
	if !store.ValidID(userID) {
		return fmt.Errorf("%w: user %q", ErrNotFound, userID)
	}
	now := s.now()
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		if !RoleWithin(u.Role, p.Role) || !ScopeWithin(u.Scope, p.Scope) {
			return fmt.Errorf("%w: user %s has more access than %s", ErrForbidden, userID, p)
		}
		if u.Role == role {
			return nil
		}
		if u.Role == store.RoleOwner {
			users, err := tx.Users(ctx)
			if err != nil {
				return err
			}
			owners := 0
			for _, o := range users {
				if o.Role == store.RoleOwner && !o.Disabled {
					owners++
				}
			}
			if owners <= 1 && !u.Disabled {
				return fmt.Errorf("%w: the last owner cannot be demoted", ErrInvalid)
			}
		}
		from := u.Role
		u.Role = role
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditRoleChange, Target: "user:" + u.ID,
			Details: map[string]string{"from": string(from), "to": string(role), "email": u.Email},
		})
	})
	return storeErr("set role", err)
}

// Users lists the users p may manage (those within p's scope), without password hashes or
// TOTP secrets.
func (s *Service) Users(ctx context.Context, p Principal) ([]store.User, error) {
	if !p.Can(ManageUsers) {
		return nil, fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageUsers)
	}
	var out []store.User
	err := s.store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		users, err := tx.Users(ctx)
		for _, u := range users {
			if ScopeWithin(u.Scope, p.Scope) {
				u.PasswordHash, u.TOTPSecret = "", ""
				out = append(out, u)
			}
		}
		return err
	})
	if err != nil {
		return nil, storeErr("list users", err)
	}
	return out, nil
}

// APIKeys lists the organization's API keys within p's scope, without their hashes.
func (s *Service) APIKeys(ctx context.Context, p Principal) ([]store.APIKey, error) {
	if !p.Can(ManageAPIKeys) {
		return nil, fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageAPIKeys)
	}
	var out []store.APIKey
	err := s.store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		keys, err := tx.APIKeys(ctx)
		for _, k := range keys {
			if ScopeWithin(k.Scope, p.Scope) {
				k.Hash = ""
				out = append(out, k)
			}
		}
		return err
	})
	if err != nil {
		return nil, storeErr("list API keys", err)
	}
	return out, nil
}

// Invitations lists the organization's invitations within p's scope, without token hashes.
func (s *Service) Invitations(ctx context.Context, p Principal) ([]store.Invitation, error) {
	if !p.Can(ManageUsers) {
		return nil, fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageUsers)
	}
	var out []store.Invitation
	err := s.store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		invs, err := tx.Invitations(ctx)
		for _, inv := range invs {
			if ScopeWithin(inv.Scope, p.Scope) {
				inv.TokenHash = ""
				out = append(out, inv)
			}
		}
		return err
	})
	if err != nil {
		return nil, storeErr("list invitations", err)
	}
	return out, nil
}

// redeemable is the common start of redeeming a one-time link (an invitation, a password
// reset): the per-address limit, then the token's organization, and only for a genuine link
// the new password's check and hash, so guesses never cost an argon2id run.
func (s *Service) redeemable(ctx context.Context, clientAddr string, kind store.LookupKind, hash, password, what string) (orgID, pwHash string, err error) {
	if d, ok := s.resetAddr.allow(addrKey(clientAddr), s.now()); !ok {
		return "", "", rateLimited(d)
	}
	orgID, err = s.store.Lookup(ctx, kind, hash)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("%w: unknown %s", ErrInvalidToken, what)
	}
	if err != nil {
		return "", "", fmt.Errorf("accounts: redeem %s: %w", what, err)
	}
	if err := checkPassword(password); err != nil {
		return "", "", err
	}
	if pwHash, err = s.hasher.hash(ctx, password); err != nil {
		return "", "", err
	}
	return orgID, pwHash, nil
}
