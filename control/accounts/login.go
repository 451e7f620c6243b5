package accounts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// LoginRequest is one login attempt. Org is the organization's slug. With MFA on, TOTP or
// RecoveryCode is needed too.
type LoginRequest struct {
	Org          string
	Email        string
	Password     string
	TOTP         string
	RecoveryCode string
	ClientAddr   string // the client's address, "ip:port" or "ip", for rate limits and audit
	// DeviceToken is the device token (Tokens.Device) of an earlier successful login from
	// this client, if it kept one: the account then trusts it (see throttle.go).
	DeviceToken string
}

// Tokens are what a login or refresh returns.
type Tokens struct {
	Access           string // JWT, audience kvmrelay-api
	Refresh          string // opaque; rotates on every use
	AccessExpiresAt  time.Time
	RefreshExpiresAt time.Time
	// Device (logins only) vouches for this client at the user's next logins: a browser keeps
	// it in a cookie (see throttle.go). Valid DeviceTTL.
	Device string
	// MFAEnrollmentRequired says the session may only enroll a second factor: the
	// organization requires one and the user has none (Principal.MFAEnrollmentRequired).
	MFAEnrollmentRequired bool
}

// Reasons recorded in login_failed audit entries.
const (
	reasonUnknownUser   = "unknown_user"
	reasonBadPassword   = "bad_password"
	reasonDisabled      = "disabled"
	reasonLocked        = "locked"
	reasonMFARequired   = "mfa_required"
	reasonBadTOTP       = "bad_totp"
	reasonBadRecovery   = "bad_recovery_code"
	reasonRefreshReused = "refresh_token_reused"
)

// errLoginRejected carries a failure reason out of the success transaction.
type errLoginRejected struct{ reason string }

func (e errLoginRejected) Error() string { return "login rejected: " + e.reason }

// Login checks a password (and second factor) and returns tokens. Every failure for a known
// organization is audited with its reason; unknown organizations, unknown users, wrong
// passwords, disabled users and wrong codes are all ErrBadCredentials. Consecutive failures
// make the client, and for untrusted clients the account, wait (a *RateLimitError) before
// the next attempt is even checked: see throttle.go.
func (s *Service) Login(ctx context.Context, req LoginRequest) (Tokens, error) {
	now := s.now()
	slug := strings.ToLower(strings.TrimSpace(req.Org))
	email := normalizeEmail(req.Email)
	addr := addrKey(req.ClientAddr)
	if d, ok := s.loginAddr.allow(addr, now); !ok {
		s.log.Warn("login rate limited", "by", "address", "addr", req.ClientAddr)
		return Tokens{}, rateLimited(d)
	}
	if len(req.Password) > MaxPasswordBytes {
		// Never hash an oversized input; no user's password is this long.
		return Tokens{}, ErrBadCredentials
	}

	orgID, err := s.store.Lookup(ctx, store.LookupOrgSlug, slug)
	knownOrg := err == nil && store.ValidSlug(slug)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Tokens{}, fmt.Errorf("accounts: login: %w", err)
	}
	var u store.User
	known := false
	if knownOrg {
		err = s.store.Read(ctx, orgID, func(tx store.Tx) error {
			var err error
			u, err = tx.UserByEmail(ctx, email)
			return err
		})
		switch {
		case err == nil:
			known = true
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		default:
			return Tokens{}, fmt.Errorf("accounts: login: %w", err)
		}
	}

	th := s.loginThrottle(slug, email, addr, req.DeviceToken, orgID, u.ID)
	wait, byClient := th.wait(s, u, known, now)
	if wait > 0 && !byClient && known && s.codeVouches(u, req.TOTP, now) {
		// The account is slowed by a flood of wrong passwords from elsewhere; a current code
		// from the user's authenticator is a signal no flood has. The password is still
		// checked below, and the code's step claimed only if it is right.
		s.log.Info("login: account slowed by failures from elsewhere; a current authenticator code lets its user through",
			"org", slug, "email", email, "addr", req.ClientAddr)
		wait = 0
	}
	if wait > 0 {
		// Audited when this client's own failures locked it (bounded per address by
		// loginAddr); the account's slowdown under a flood from many addresses is only
		// logged, so a flood cannot write the audit log at its own rate.
		switch {
		case known && byClient:
			s.loginFailed(ctx, orgID, &u, email, reasonLocked, req.ClientAddr, false)
		case byClient:
			s.log.Info("login rate limited", "by", "client", "org", slug, "email", email, "addr", req.ClientAddr)
		default:
			s.log.Info("login rate limited", "by", "account", "org", slug, "email", email, "addr", req.ClientAddr)
		}
		if !byClient {
			// Said of every account so slowed, known or not, with MFA or not: the answer
			// tells nothing about the account.
			return Tokens{}, &RateLimitError{RetryAfter: max(wait, time.Second), Account: true}
		}
		return Tokens{}, rateLimited(wait)
	}
	if !knownOrg {
		s.burnDummy(ctx, req.Password)
		th.failed(s, now)
		s.log.Info("login failed", "reason", "unknown_org", "org", slug, "addr", req.ClientAddr)
		return Tokens{}, ErrBadCredentials
	}
	if !known {
		s.burnDummy(ctx, req.Password)
		th.failed(s, now)
		// Past the budget the answer comes without the audit write: like the shed dummy
		// hash (hasher.burn), a timing difference only an attacker flooding this
		// organization could measure, accepted so that his flood is not written at its rate.
		if _, ok := s.unknownAudit.allow(orgID, now); ok {
			s.loginFailed(ctx, orgID, nil, email, reasonUnknownUser, req.ClientAddr, false)
		} else {
			s.log.Info("login failed", "org", orgID, "reason", reasonUnknownUser, "email", truncate(email, 254), "addr", req.ClientAddr, "audited", false)
		}
		return Tokens{}, ErrBadCredentials
	}
	// From here every counted failure is also the client's and the account's.
	fail := func(reason string) (Tokens, error) {
		th.failed(s, now)
		s.loginFailed(ctx, orgID, &u, email, reason, req.ClientAddr, true)
		return Tokens{}, ErrBadCredentials
	}

	ok, rehash, err := s.hasher.verify(ctx, u.PasswordHash, req.Password)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrBusy) {
			return Tokens{}, err
		}
		s.log.Error("stored password hash unusable", "org", orgID, "user", u.ID, "err", err)
		ok = false
	}
	switch {
	case !ok:
		return fail(reasonBadPassword)
	case u.Disabled:
		return fail(reasonDisabled)
	}

	method, step, recovery := "password", int64(0), ""
	if u.TOTPConfirmed {
		switch {
		case strings.TrimSpace(req.TOTP) != "":
			secret, err := s.totpSecret(u)
			if err != nil {
				s.log.Error("stored TOTP secret unusable", "org", orgID, "user", u.ID, "err", err)
			}
			st, ok := matchTOTP(secret, req.TOTP, now, u.TOTPLastStep)
			if !ok || !s.guard.claim(u.ID, st, now) {
				return fail(reasonBadTOTP)
			}
			method, step = "password+totp", st
		case strings.TrimSpace(req.RecoveryCode) != "":
			recovery = normalizeRecoveryCode(req.RecoveryCode)
			if recovery == "" {
				return fail(reasonBadRecovery)
			}
			method = "password+recovery_code"
		default:
			s.loginFailed(ctx, orgID, &u, email, reasonMFARequired, req.ClientAddr, false)
			return Tokens{}, ErrMFARequired
		}
	}

	newHash := ""
	if rehash {
		if newHash, err = s.hasher.hash(ctx, req.Password); err != nil {
			s.log.Warn("password rehash failed", "user", u.ID, "err", err)
			newHash = ""
		}
	}

	var tokens Tokens
	err = s.store.Write(ctx, orgID, func(tx store.Tx) error {
		cur, err := tx.User(ctx, u.ID)
		if err != nil {
			return err
		}
		// The account may have changed while the password was being hashed.
		if cur.Disabled {
			return errLoginRejected{reasonDisabled}
		}
		if cur.PasswordHash != u.PasswordHash {
			return errLoginRejected{reasonBadPassword}
		}
		dirty := false
		if step != 0 {
			if !cur.TOTPConfirmed || step <= cur.TOTPLastStep {
				return errLoginRejected{reasonBadTOTP}
			}
			cur.TOTPLastStep, dirty = step, true
		}
		if recovery != "" {
			err := tx.UseRecoveryCode(ctx, u.ID, recoveryCodeHash(u.ID, recovery), now)
			if errors.Is(err, store.ErrTokenInvalid) {
				return errLoginRejected{reasonBadRecovery}
			}
			if err != nil {
				return err
			}
		}
		if newHash != "" {
			cur.PasswordHash, dirty = newHash, true
		}
		if dirty {
			if err := s.updateUser(ctx, tx, cur); err != nil {
				return err
			}
		}
		if err := tx.ResetLoginFailures(ctx, u.ID); err != nil {
			return err
		}
		tokens, err = s.issue(ctx, tx, cur, store.NewID(), now)
		if err != nil {
			return err
		}
		details := map[string]string{"method": method, "addr": req.ClientAddr}
		if newHash != "" {
			details["rehashed"] = "true"
		}
		if tokens.MFAEnrollmentRequired {
			details["session"] = "mfa_enrollment_only"
		}
		return s.audit(ctx, tx, store.AuditRecord{Time: now, Actor: "user:" + u.ID, Action: store.AuditLogin, Target: "user:" + u.ID, Details: details})
	})
	var rej errLoginRejected
	if errors.As(err, &rej) {
		if step != 0 {
			s.guard.release(u.ID, step)
		}
		return fail(rej.reason)
	}
	if err != nil {
		if step != 0 {
			s.guard.release(u.ID, step)
		}
		return Tokens{}, storeErr("login", err)
	}
	th.succeeded(s, now)
	if tokens.Device, err = s.mintDevice(orgID, u.ID); err != nil {
		s.log.Warn("device token not minted", "user", u.ID, "err", err)
		tokens.Device = ""
	}
	s.log.Info("login", "org", orgID, "user", u.ID, "method", method, "addr", req.ClientAddr, "trusted_client", th.trusted)
	return tokens, nil
}

// issue stores a refresh token of family familyID and mints an access token, inside tx, and
// says whether the session may only enroll MFA.
func (s *Service) issue(ctx context.Context, tx store.Tx, u store.User, familyID string, now time.Time) (Tokens, error) {
	refresh, rt, err := newRefreshToken(familyID, u.ID)
	if err != nil {
		return Tokens{}, err
	}
	t := Tokens{Refresh: refresh, RefreshExpiresAt: now.Add(s.cfg.RefreshTTL)}
	if err := tx.CreateRefreshToken(ctx, store.RefreshToken{
		Hash: rt.hash, FamilyID: familyID, UserID: u.ID, CreatedAt: now, ExpiresAt: t.RefreshExpiresAt,
	}); err != nil {
		return Tokens{}, err
	}
	if t.Access, t.AccessExpiresAt, err = s.mintAccess(tx.OrgID(), u, now); err != nil {
		return Tokens{}, err
	}
	if t.MFAEnrollmentRequired, err = mfaEnrollmentRequired(ctx, tx, u); err != nil {
		return Tokens{}, err
	}
	return t, nil
}

func (s *Service) mintAccess(orgID string, u store.User, now time.Time) (string, time.Time, error) {
	tok, c, err := s.issuer.Mint(auth.Claims{
		ID:      accessID(now),
		Subject: u.ID, Audience: auth.AudienceAPI, Tenant: orgID, Role: string(u.Role), Scope: u.Scope,
	}, s.cfg.AccessTTL)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("accounts: mint access token: %w", err)
	}
	return tok, c.ExpiresAt, nil
}

// An access token's jti carries the microsecond it was minted at: "a<unix µs>_<random>".
// JWT iat has whole seconds, too coarse for the per-user cut-off (User.TokensValidAfter): a
// password change at 12:00:00.700 must refuse a token minted at 12:00:00.300 and accept the
// one minted for the caller at 12:00:00.700. The jti is signed like every claim, so it is as
// trustworthy as iat.
func accessID(now time.Time) string {
	return "a" + strconv.FormatInt(now.UnixMicro(), 10) + "_" + auth.NewID("")
}

// accessIssued is when a verified access token was minted: the jti's microsecond, else (a
// token minted before jtis carried it) iat, which is never later than the real instant.
func accessIssued(c auth.Claims) time.Time {
	if rest, ok := strings.CutPrefix(c.ID, "a"); ok {
		if us, _, ok := strings.Cut(rest, "_"); ok {
			if n, err := strconv.ParseInt(us, 10, 64); err == nil && n > 0 {
				return time.UnixMicro(n)
			}
		}
	}
	return c.IssuedAt
}

// cutOff ends every session of u at now: access tokens minted before now are refused
// (authAccess), every refresh token is revoked. The caller writes u.
func (s *Service) cutOff(ctx context.Context, tx store.Tx, u *store.User, now time.Time) error {
	at := now.UTC().Truncate(time.Microsecond) // what the store keeps
	u.TokensValidAfter = &at
	if err := tx.RevokeUserRefreshTokens(ctx, u.ID, now); err != nil {
		return err
	}
	s.rot.forgetUser(u.ID)
	return nil
}

// burnDummy spends what verifying a real hash spends, so an unknown org or user answers as
// slowly as a wrong password.
// Under load it is shed first (see hasher.burn).
func (s *Service) burnDummy(ctx context.Context, pw string) {
	s.hasher.burn(ctx, s.dummy(), pw)
}

// failureDelay is how long an account with n consecutive failures waits after the last.
func (s *Service) failureDelay(n int) time.Duration {
	over := n - s.cfg.FreeFailures
	if over <= 0 {
		return 0
	}
	if over > 30 {
		over = 30
	}
	return min(time.Second<<(over-1), s.cfg.MaxFailureDelay)
}

// lockout is how much longer u must wait before its next attempt is checked, by the failures
// the store counted for the whole deployment: the account's slowdown (accountDelay), never
// a lock.
func (s *Service) lockout(u store.User, now time.Time) time.Duration {
	if u.LastFailedAt == nil {
		return 0
	}
	return u.LastFailedAt.Add(s.accountDelay(u.FailedLogins)).Sub(now)
}

// loginFailed audits a failed login (and counts it against the account when count is set)
// in its own transaction. Errors are logged: the caller answers the client regardless.
func (s *Service) loginFailed(ctx context.Context, orgID string, u *store.User, email, reason, addr string, count bool) {
	now := s.now()
	target := "email:" + truncate(email, 254)
	if u != nil {
		target = "user:" + u.ID
	}
	failures := 0
	err := s.store.Write(ctx, orgID, func(tx store.Tx) error {
		details := map[string]string{"reason": reason, "email": truncate(email, 254), "addr": truncate(addr, 100)}
		if u != nil && count {
			n, err := tx.RecordLoginFailure(ctx, u.ID, now)
			if err != nil {
				return err
			}
			failures = n
			details["failures"] = strconv.Itoa(n)
		}
		return s.audit(ctx, tx, store.AuditRecord{Time: now, Actor: "anonymous", Action: store.AuditLoginFailed, Target: target, Details: details})
	})
	if err != nil {
		s.log.Error("audit login failure", "org", orgID, "target", target, "reason", reason, "err", err)
		return
	}
	s.log.Info("login failed", "org", orgID, "target", target, "reason", reason, "failures", failures, "addr", addr)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Refresh rotates a refresh token: the old one stops working and a new pair is returned. A
// token presented again after its rotation means it leaked or was replayed: the whole family
// (every session descended from that login) is revoked, the event audited, ErrTokenReused
// returned.
func (s *Service) Refresh(ctx context.Context, refreshToken, clientAddr string) (Tokens, error) {
	now := s.now()
	if d, ok := s.refreshAddr.allow(addrKey(clientAddr), now); !ok {
		return Tokens{}, rateLimited(d)
	}
	rt, err := parseRefreshToken(strings.TrimSpace(refreshToken))
	if err != nil {
		return Tokens{}, err
	}
	orgID, err := s.store.Lookup(ctx, store.LookupRefresh, rt.hash)
	if errors.Is(err, store.ErrNotFound) {
		return Tokens{}, fmt.Errorf("%w: unknown refresh token", ErrInvalidToken)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("accounts: refresh: %w", err)
	}
	// The token's hash is in the store, so the family and user it carries are genuine.
	if d, ok := s.refreshAccount.allow(rt.userID, now); !ok {
		return Tokens{}, rateLimited(d)
	}
	addr := addrKey(clientAddr)
	prev, lead := s.rot.begin(rt, addr, now)
	if !lead {
		t, ok, err := s.rot.result(ctx, prev, addr, s.now())
		if err != nil {
			return Tokens{}, err
		}
		if ok {
			s.log.Info("refresh token presented again within the grace window: same successor returned",
				"org", orgID, "user", rt.userID, "family", rt.familyID, "addr", clientAddr)
			return t, nil
		}
		// Not answerable from the earlier rotation: judged as any presentation (a rotated
		// token is then a reuse).
	}
	tokens, err := s.rotate(ctx, orgID, rt, now)
	if lead {
		s.rot.finish(rt.hash, err == nil, tokens, s.now())
	}
	switch {
	case err == nil:
		return tokens, nil
	case errors.Is(err, store.ErrTokenReused):
		s.revokeReused(ctx, orgID, rt, clientAddr)
		return Tokens{}, ErrTokenReused
	case errors.Is(err, store.ErrTokenInvalid), errors.Is(err, store.ErrNotFound):
		return Tokens{}, fmt.Errorf("%w: refresh token expired or unknown", ErrInvalidToken)
	case errors.As(err, new(errLoginRejected)):
		return Tokens{}, fmt.Errorf("%w: user disabled", ErrInvalidToken)
	}
	return Tokens{}, fmt.Errorf("accounts: refresh: %w", err)
}

// rotate replaces rt by a new token of its family and mints an access token, in one
// transaction; the store's errors come back as they are.
func (s *Service) rotate(ctx context.Context, orgID string, rt refreshToken, now time.Time) (Tokens, error) {
	next, nrt, err := newRefreshToken(rt.familyID, rt.userID)
	if err != nil {
		return Tokens{}, err
	}
	var tokens Tokens
	err = s.store.Write(ctx, orgID, func(tx store.Tx) error {
		tokens = Tokens{Refresh: next, RefreshExpiresAt: now.Add(s.cfg.RefreshTTL)}
		if err := tx.RotateRefreshToken(ctx, rt.hash, store.RefreshToken{
			Hash: nrt.hash, FamilyID: rt.familyID, UserID: rt.userID, CreatedAt: now, ExpiresAt: tokens.RefreshExpiresAt,
		}); err != nil {
			return err
		}
		u, err := tx.User(ctx, rt.userID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return errLoginRejected{reasonDisabled}
		}
		tokens.Access, tokens.AccessExpiresAt, err = s.mintAccess(orgID, u, now)
		if err != nil {
			return err
		}
		tokens.MFAEnrollmentRequired, err = mfaEnrollmentRequired(ctx, tx, u)
		return err
	})
	return tokens, err
}

// revokeReused revokes a reused token's family in a new transaction (the rotation's rolled
// back) and audits it.
func (s *Service) revokeReused(ctx context.Context, orgID string, rt refreshToken, addr string) {
	now := s.now()
	s.rot.forgetFamily(rt.familyID)
	err := s.store.Write(ctx, orgID, func(tx store.Tx) error {
		if err := tx.RevokeRefreshFamily(ctx, rt.familyID, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: "anonymous", Action: store.AuditLoginFailed, Target: "user:" + rt.userID,
			Details: map[string]string{"reason": reasonRefreshReused, "family": rt.familyID, "addr": truncate(addr, 100)},
		})
	})
	if err != nil {
		s.log.Error("revoke reused refresh family", "org", orgID, "family", rt.familyID, "err", err)
		return
	}
	s.log.Warn("refresh token reused: family revoked", "org", orgID, "user", rt.userID, "family", rt.familyID, "addr", addr)
}

// Logout revokes the refresh token's family: it and every token rotated from it.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	rt, err := parseRefreshToken(strings.TrimSpace(refreshToken))
	if err != nil {
		return err
	}
	orgID, err := s.store.Lookup(ctx, store.LookupRefresh, rt.hash)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: unknown refresh token", ErrInvalidToken)
	}
	if err != nil {
		return fmt.Errorf("accounts: logout: %w", err)
	}
	s.rot.forgetFamily(rt.familyID)
	err = s.store.Write(ctx, orgID, func(tx store.Tx) error {
		return tx.RevokeRefreshFamily(ctx, rt.familyID, s.now())
	})
	return storeErr("logout", err)
}

// Authenticate resolves a bearer credential to a principal: an API key ("kvmk_…"), one of our
// access JWTs, or, when configured, an access token from the OIDC issuer. Users and keys are
// read from the store on every call, so disabling a user, changing a role or revoking a key
// takes effect at once, not when the access token expires.
func (s *Service) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	bearer = strings.TrimSpace(bearer)
	if len(bearer) > 7 && strings.EqualFold(bearer[:7], "bearer ") {
		bearer = strings.TrimSpace(bearer[7:])
	}
	switch {
	case bearer == "":
		return Principal{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	case len(bearer) > maxBearerLen:
		return Principal{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	case strings.HasPrefix(bearer, apiKeyPrefix):
		return s.authAPIKey(ctx, bearer)
	case s.oidc != nil && unverifiedIssuer(bearer) == s.oidc.cfg.Issuer:
		return s.authOIDC(ctx, bearer)
	}
	return s.authAccess(ctx, bearer)
}

func (s *Service) authAccess(ctx context.Context, token string) (Principal, error) {
	c, err := s.issuer.Verify(token, auth.AudienceAPI)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if !store.ValidID(c.Tenant) || !store.ValidID(c.Subject) {
		return Principal{}, fmt.Errorf("%w: access token without organization or user", ErrInvalidToken)
	}
	var u store.User
	var enrollOnly bool
	err = s.store.Read(ctx, c.Tenant, func(tx store.Tx) error {
		var err error
		if u, err = tx.User(ctx, c.Subject); err != nil {
			return err
		}
		enrollOnly, err = mfaEnrollmentRequired(ctx, tx, u)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: user no longer exists", ErrInvalidToken)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("accounts: authenticate: %w", err)
	}
	p, err := userPrincipal(c.Tenant, u)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if u.TokensValidAfter != nil && accessIssued(c).Before(*u.TokensValidAfter) {
		return Principal{}, fmt.Errorf("%w: access token issued before the user's sessions were ended (password change, reset or disable)", ErrInvalidToken)
	}
	p.MFAEnrollmentRequired, p.MFAEnabled = enrollOnly, u.TOTPConfirmed
	return p, nil
}

func (s *Service) authAPIKey(ctx context.Context, key string) (Principal, error) {
	prefix, hash, err := parseAPIKey(key)
	if err != nil {
		return Principal{}, err
	}
	orgID, err := s.store.Lookup(ctx, store.LookupAPIKey, prefix)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: unknown API key", ErrInvalidToken)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("accounts: authenticate: %w", err)
	}
	var k store.APIKey
	err = s.store.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		k, err = tx.APIKeyByPrefix(ctx, prefix)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: unknown API key", ErrInvalidToken)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("accounts: authenticate: %w", err)
	}
	if !equalHash(k.Hash, hash) {
		return Principal{}, fmt.Errorf("%w: wrong API key secret", ErrInvalidToken)
	}
	p, err := keyPrincipal(orgID, k)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return p, nil
}

func (s *Service) authOIDC(ctx context.Context, token string) (Principal, error) {
	id, err := s.oidc.verify(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	orgID, err := s.store.Lookup(ctx, store.LookupOrgSlug, id.OrgSlug)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: OIDC organization %q does not exist", ErrForbidden, id.OrgSlug)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("accounts: authenticate: %w", err)
	}
	return Principal{OrgID: orgID, Kind: KindOIDC, ID: id.Subject, Email: id.Email, Role: id.Role, Scope: nonEmpty(id.Scope)}, nil
}

// unverifiedIssuer reads a JWT's iss without checking anything, only to route the token to
// the verifier that will check everything.
func unverifiedIssuer(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.Iss
}

// codeVouches reports whether totp is a current code of u's authenticator (not yet used):
// then a login may skip the account's slowdown. A wrong or missing code changes nothing, so
// the answer to a flood that sends codes is the same slowdown; guessing a code while guessing
// the password is a million times slower than guessing the password.
func (s *Service) codeVouches(u store.User, totp string, now time.Time) bool {
	if !u.TOTPConfirmed || strings.TrimSpace(totp) == "" {
		return false
	}
	secret, err := s.totpSecret(u)
	if err != nil {
		return false
	}
	_, ok := matchTOTP(secret, totp, now, u.TOTPLastStep)
	return ok
}
