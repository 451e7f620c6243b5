package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// manageable checks that p may act on user u: p manages users, and u has no role stronger
// than p's nor a scope wider (so owners are managed only by owners).
func manageable(p Principal, u store.User) error {
	if !p.Can(ManageUsers) {
		return fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageUsers)
	}
	if !RoleWithin(u.Role, p.Role) || !ScopeWithin(u.Scope, p.Scope) {
		return fmt.Errorf("%w: user %s has more access than %s", ErrForbidden, u.ID, p)
	}
	return nil
}

// self reports whether p is the user userID.
func self(p Principal, userID string) bool { return p.Kind == KindUser && p.ID == userID }

// ChangePassword sets p's own password, given the current one. Every other session of the
// user ends (access tokens minted before now are refused, refresh tokens revoked); the caller
// gets a fresh pair in a new family, which the cut-off does not touch. A wrong current
// password counts as a failed login (the same back-off applies: a stolen access token does
// not buy unlimited guesses) and is ErrWrongPassword.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next, clientAddr string) (Tokens, error) {
	if p.Kind != KindUser || !store.ValidID(p.ID) {
		return Tokens{}, fmt.Errorf("%w: only users have a password", ErrForbidden)
	}
	now := s.now()
	if d, ok := s.passwordAccount.allow(p.OrgID+"\x00"+p.ID, now); !ok {
		return Tokens{}, rateLimited(d)
	}
	if err := checkPassword(next); err != nil {
		return Tokens{}, err
	}
	if next == current {
		return Tokens{}, fmt.Errorf("%w: the new password must differ from the current one", ErrInvalid)
	}
	var u store.User
	err := s.store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		u, err = tx.User(ctx, p.ID)
		return err
	})
	if err != nil {
		return Tokens{}, storeErr("change password", err)
	}
	if wait := s.lockout(u, now); wait > 0 {
		return Tokens{}, rateLimited(wait)
	}
	ok := false
	if len(current) <= MaxPasswordBytes {
		var err error
		ok, _, err = s.hasher.verify(ctx, u.PasswordHash, current)
		if err != nil && (ctx.Err() != nil || errors.Is(err, ErrBusy)) {
			return Tokens{}, err
		}
	}
	if !ok {
		s.loginFailed(ctx, p.OrgID, &u, u.Email, "bad_current_password", clientAddr, true)
		return Tokens{}, ErrWrongPassword
	}
	hash, err := s.hasher.hash(ctx, next)
	if err != nil {
		return Tokens{}, err
	}
	var tokens Tokens
	err = s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		cur, err := tx.User(ctx, p.ID)
		if err != nil {
			return err
		}
		if cur.Disabled {
			return fmt.Errorf("%w: user disabled", ErrInvalidToken)
		}
		if cur.PasswordHash != u.PasswordHash {
			return fmt.Errorf("%w: the password was changed meanwhile", ErrConflict)
		}
		cur.PasswordHash = hash
		if err := s.cutOff(ctx, tx, &cur, now); err != nil {
			return err
		}
		if err := s.updateUser(ctx, tx, cur); err != nil {
			return err
		}
		if err := tx.ResetLoginFailures(ctx, cur.ID); err != nil {
			return err
		}
		if tokens, err = s.issue(ctx, tx, cur, store.NewID(), now); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditPasswordChange, Target: "user:" + cur.ID,
			Details: map[string]string{"email": cur.Email, "addr": truncate(clientAddr, 100), "sessions": "ended"},
		})
	})
	if err != nil {
		return Tokens{}, storeErr("change password", err)
	}
	s.log.Info("password changed", "org", p.OrgID, "user", p.ID, "addr", clientAddr)
	return tokens, nil
}

// IssuePasswordReset makes a one-time link with which user userID sets a new password; it
// expires after ResetTTL. Like Invite: with a Mailer the link is mailed to the user and ""
// returned (on a mail failure the reset stands and the link comes back with ErrMail);
// without one the link is returned for p to pass on.
func (s *Service) IssuePasswordReset(ctx context.Context, p Principal, userID string) (string, store.PasswordReset, error) {
	if !p.Can(ManageUsers) {
		return "", store.PasswordReset{}, fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageUsers)
	}
	if !store.ValidID(userID) {
		return "", store.PasswordReset{}, fmt.Errorf("%w: user %q", ErrNotFound, userID)
	}
	token, hash := newResetToken()
	now := s.now()
	r := store.PasswordReset{TokenHash: hash, UserID: userID, CreatedBy: p.String(), CreatedAt: now, ExpiresAt: now.Add(s.cfg.ResetTTL)}
	var u store.User
	var orgName string
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		if u, err = tx.User(ctx, userID); err != nil {
			return err
		}
		if err := manageable(p, u); err != nil {
			return err
		}
		if u.Disabled {
			return fmt.Errorf("%w: user %s is disabled; enable them first", ErrInvalid, u.Email)
		}
		org, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		orgName = org.Name
		if err := tx.CreatePasswordReset(ctx, r); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditPasswordReset, Target: "user:" + u.ID,
			Details: map[string]string{"event": "issued", "email": u.Email, "expires_at": r.ExpiresAt.UTC().Format(time.RFC3339)},
		})
	})
	if err != nil {
		return "", store.PasswordReset{}, storeErr("issue password reset", err)
	}
	r.OrgID, r.TokenHash = p.OrgID, ""
	link := s.consoleLink(linkReset, token)
	if s.cfg.Mailer == nil {
		return link, r, nil
	}
	subject := "Reset your kvmrelay password for " + orgName
	body := fmt.Sprintf("An administrator of %s on kvmrelay issued a password reset for %s.\n\nSet a new password within %s by opening:\n\n%s\n\nThe link works once. If you did not expect this, tell your administrator.\n",
		orgName, u.Email, s.cfg.ResetTTL, link)
	if err := s.cfg.Mailer.Send(ctx, u.Email, subject, body); err != nil {
		s.log.Warn("password reset mail failed", "org", p.OrgID, "user", u.ID, "err", err)
		return link, r, fmt.Errorf("%w: %w", ErrMail, err)
	}
	return "", r, nil
}

// ResetPassword redeems a reset link: the user gets the new password, every session of theirs
// ends, and the failed-login count is cleared. Each link works once, before it expires, and
// not for a disabled user. Attempts are limited per client address.
func (s *Service) ResetPassword(ctx context.Context, token, password, clientAddr string) (store.User, error) {
	now := s.now()
	hash, err := parseResetToken(token)
	if err != nil {
		return store.User{}, err
	}
	orgID, pwHash, err := s.redeemable(ctx, clientAddr, store.LookupReset, hash, password, "password reset")
	if err != nil {
		return store.User{}, err
	}
	var u store.User
	err = s.store.Write(ctx, orgID, func(tx store.Tx) error {
		r, err := tx.ConsumePasswordReset(ctx, hash, now)
		if errors.Is(err, store.ErrTokenInvalid) {
			return fmt.Errorf("%w: password reset used or expired (or the user is disabled)", ErrInvalidToken)
		}
		if err != nil {
			return err
		}
		if u, err = tx.User(ctx, r.UserID); err != nil {
			return err
		}
		u.PasswordHash = pwHash
		if err := s.cutOff(ctx, tx, &u, now); err != nil {
			return err
		}
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		if err := tx.ResetLoginFailures(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: "user:" + u.ID, Action: store.AuditPasswordReset, Target: "user:" + u.ID,
			Details: map[string]string{"event": "used", "email": u.Email, "issued_by": r.CreatedBy, "addr": truncate(clientAddr, 100), "sessions": "ended"},
		})
	})
	if err != nil {
		return store.User{}, storeErr("reset password", err)
	}
	s.log.Info("password reset", "org", orgID, "user", u.ID, "addr", clientAddr)
	u.PasswordHash, u.TOTPSecret = "", ""
	return u, nil
}

// SetDisabled disables or enables user userID. A disabled user cannot log in or refresh, and
// every session of theirs ends now (the API also stops their consoles). Nobody disables
// themselves or the last active owner; owners are managed by owners only.
func (s *Service) SetDisabled(ctx context.Context, p Principal, userID string, disabled bool) (store.User, error) {
	if !p.Can(ManageUsers) {
		return store.User{}, fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageUsers)
	}
	if !store.ValidID(userID) {
		return store.User{}, fmt.Errorf("%w: user %q", ErrNotFound, userID)
	}
	if self(p, userID) {
		return store.User{}, fmt.Errorf("%w: you cannot disable or enable yourself; ask another admin", ErrInvalid)
	}
	now := s.now()
	var u store.User
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		if u, err = tx.User(ctx, userID); err != nil {
			return err
		}
		if err := manageable(p, u); err != nil {
			return err
		}
		if u.Disabled == disabled {
			return nil
		}
		if disabled && u.Role == store.RoleOwner {
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
			if owners <= 1 {
				return fmt.Errorf("%w: the last active owner cannot be disabled; make someone else owner first", ErrInvalid)
			}
		}
		u.Disabled = disabled
		action := store.AuditUserEnable
		if disabled {
			action = store.AuditUserDisable
			if err := s.cutOff(ctx, tx, &u, now); err != nil {
				return err
			}
		}
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: action, Target: "user:" + u.ID,
			Details: map[string]string{"email": u.Email, "role": string(u.Role)},
		})
	})
	if err != nil {
		return store.User{}, storeErr("set disabled", err)
	}
	s.log.Info("user disabled state set", "org", p.OrgID, "user", userID, "disabled", disabled, "by", p.String())
	u.PasswordHash, u.TOTPSecret = "", ""
	return u, nil
}

// ResetMFA turns off the second factor of user userID, who lost their authenticator and
// recovery codes: the secret and recovery codes are deleted, and the user can enroll again
// after logging in with the password alone. Not for oneself (DisableTOTP, with a code, is).
func (s *Service) ResetMFA(ctx context.Context, p Principal, userID string) error {
	if !p.Can(ManageUsers) {
		return fmt.Errorf("%w: %s may not %s", ErrForbidden, p.Role, ManageUsers)
	}
	if !store.ValidID(userID) {
		return fmt.Errorf("%w: user %q", ErrNotFound, userID)
	}
	if self(p, userID) {
		return fmt.Errorf("%w: to turn off your own MFA, use a code or a recovery code (DELETE /me/totp)", ErrInvalid)
	}
	now := s.now()
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		if err := manageable(p, u); err != nil {
			return err
		}
		if !u.TOTPConfirmed && u.TOTPSecret == "" {
			return nil
		}
		u.TOTPSecret, u.TOTPConfirmed = "", false
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		if err := tx.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditMFAChange, Target: "user:" + u.ID,
			Details: map[string]string{"change": "totp_reset_by_admin", "email": u.Email, "by": p.String()},
		})
	})
	if err != nil {
		return storeErr("reset MFA", err)
	}
	s.log.Info("MFA reset by admin", "org", p.OrgID, "user", userID, "by", p.String())
	return nil
}
