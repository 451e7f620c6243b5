package accounts

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const newPassword = "a brand new passphrase"

func TestChangePassword(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)

	// Two sessions: this one changes the password, the other (say a stolen laptop) must end.
	mine, err := login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	other, err := login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	// Within the same second as the logins: iat (whole seconds) cannot tell the tokens apart.
	e.clock.Add(300 * time.Millisecond)

	_, err = e.svc.ChangePassword(ctx, owner, "wrong password here", newPassword, "192.0.2.1")
	require.ErrorIs(t, err, ErrWrongPassword)
	assert.Equal(t, 1, e.user(t, org.ID, owner.ID).FailedLogins, "a wrong current password counts as a failed login")
	_, err = e.svc.ChangePassword(ctx, owner, ownerPassword, "short", "192.0.2.1")
	require.ErrorIs(t, err, ErrInvalid, "the password policy applies")
	_, err = e.svc.ChangePassword(ctx, owner, ownerPassword, ownerPassword, "192.0.2.1")
	require.ErrorIs(t, err, ErrInvalid, "the new password must differ")
	apiKey := Principal{OrgID: org.ID, Kind: KindAPIKey, ID: store.NewID(), Role: store.RoleOwner}
	_, err = e.svc.ChangePassword(ctx, apiKey, ownerPassword, newPassword, "192.0.2.1")
	require.ErrorIs(t, err, ErrForbidden, "API keys have no password")

	fresh, err := e.svc.ChangePassword(ctx, owner, ownerPassword, newPassword, "192.0.2.1")
	require.NoError(t, err)

	for name, tok := range map[string]string{"mine": mine.Access, "other": other.Access} {
		_, err := e.svc.Authenticate(ctx, tok)
		assert.ErrorIs(t, err, ErrInvalidToken, "%s: access tokens from before the change are refused", name)
	}
	for name, tok := range map[string]string{"mine": mine.Refresh, "other": other.Refresh} {
		_, err := e.svc.Refresh(ctx, tok, "192.0.2.9")
		assert.Error(t, err, "%s: refresh tokens from before the change are revoked", name)
	}
	p, err := e.svc.Authenticate(ctx, fresh.Access)
	require.NoError(t, err, "the token issued with the change works, in the same second")
	assert.Equal(t, owner.ID, p.ID)
	_, err = e.svc.Refresh(ctx, fresh.Refresh, "192.0.2.1")
	require.NoError(t, err)

	_, err = login(e, "owner@acme.test", ownerPassword)
	require.ErrorIs(t, err, ErrBadCredentials)
	_, err = login(e, "owner@acme.test", newPassword)
	require.NoError(t, err)
	assert.Zero(t, e.user(t, org.ID, owner.ID).FailedLogins)

	changes := auditsOf(e.audits(t, org.ID), store.AuditPasswordChange)
	require.Len(t, changes, 1)
	assert.Equal(t, owner.String(), changes[0].Actor)
	assert.Equal(t, "user:"+owner.ID, changes[0].Target)
}

// resetToken takes the token out of a reset link.
func resetToken(t *testing.T, link string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(link, "https://relay.test/console/#reset=")
	require.True(t, ok, "link %q", link)
	return tok
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	admin := e.addUser(t, org.ID, "admin@acme.test", "admin password", store.RoleAdmin, nil)
	op := e.addUser(t, org.ID, "op@acme.test", "operator password", store.RoleOperator, map[string]string{"site": "lab"})
	viewer := e.addUser(t, org.ID, "viewer@acme.test", "viewer password", store.RoleViewer, nil)
	prodAdmin := e.addUser(t, org.ID, "prod@acme.test", "prod admin password", store.RoleAdmin, map[string]string{"site": "prod"})
	_, foreigner := func() (store.Organization, Principal) {
		o, u, err := e.svc.CreateOwner(ctx, "Globex", "globex", "owner@globex.test", ownerPassword)
		require.NoError(t, err)
		return o, Principal{OrgID: o.ID, Kind: KindUser, ID: u.ID, Role: store.RoleOwner}
	}()

	for _, tc := range []struct {
		name string
		p    Principal
		user string
		err  error
	}{
		{"viewer may not", viewer, op.ID, ErrForbidden},
		{"admin may not reset an owner", admin, owner.ID, ErrForbidden},
		{"scoped admin may not reset outside its scope", prodAdmin, op.ID, ErrForbidden},
		{"another organization's owner", foreigner, op.ID, ErrNotFound},
		{"malformed id", admin, "nope", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.IssuePasswordReset(ctx, tc.p, tc.user)
			require.ErrorIs(t, err, tc.err)
		})
	}

	session, err := login(e, "op@acme.test", "operator password")
	require.NoError(t, err)
	for range 2 {
		_, err = login(e, "op@acme.test", "wrong password!!")
		require.ErrorIs(t, err, ErrBadCredentials)
	}
	require.Equal(t, 2, e.user(t, org.ID, op.ID).FailedLogins)

	link, r, err := e.svc.IssuePasswordReset(ctx, admin, op.ID)
	require.NoError(t, err)
	assert.Equal(t, e.clock.Now().Add(time.Hour), r.ExpiresAt)
	assert.Equal(t, admin.String(), r.CreatedBy)
	tok := resetToken(t, link)
	e.clock.Add(500 * time.Millisecond)

	_, err = e.svc.ResetPassword(ctx, tok, "short", "192.0.2.1")
	require.ErrorIs(t, err, ErrInvalid)
	u, err := e.svc.ResetPassword(ctx, tok, newPassword, "192.0.2.1")
	require.NoError(t, err)
	assert.Equal(t, op.ID, u.ID)
	assert.Empty(t, u.PasswordHash)
	_, err = e.svc.ResetPassword(ctx, tok, newPassword, "192.0.2.1")
	require.ErrorIs(t, err, ErrInvalidToken, "single use")

	_, err = e.svc.Authenticate(ctx, session.Access)
	require.ErrorIs(t, err, ErrInvalidToken, "sessions from before the reset end")
	_, err = e.svc.Refresh(ctx, session.Refresh, "192.0.2.1")
	require.Error(t, err)
	assert.Zero(t, e.user(t, org.ID, op.ID).FailedLogins, "failed logins cleared")
	_, err = login(e, "op@acme.test", newPassword)
	require.NoError(t, err)

	t.Run("expired", func(t *testing.T) {
		link, _, err := e.svc.IssuePasswordReset(ctx, owner, admin.ID)
		require.NoError(t, err)
		e.clock.Add(time.Hour + time.Second)
		_, err = e.svc.ResetPassword(ctx, resetToken(t, link), newPassword, "192.0.2.1")
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
	t.Run("disabled user", func(t *testing.T) {
		link, _, err := e.svc.IssuePasswordReset(ctx, owner, viewer.ID)
		require.NoError(t, err)
		_, err = e.svc.SetDisabled(ctx, owner, viewer.ID, true)
		require.NoError(t, err)
		_, err = e.svc.ResetPassword(ctx, resetToken(t, link), newPassword, "192.0.2.1")
		assert.ErrorIs(t, err, ErrInvalidToken)
		_, _, err = e.svc.IssuePasswordReset(ctx, owner, viewer.ID)
		assert.ErrorIs(t, err, ErrInvalid, "no reset for a disabled user")
	})
	t.Run("unknown or malformed", func(t *testing.T) {
		for _, bad := range []string{"", "kvmp_" + strings.Repeat("A", 43), "kvmi_" + strings.Repeat("A", 43), tok + "A"} {
			_, err := e.svc.ResetPassword(ctx, bad, newPassword, "192.0.2.2")
			assert.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
		}
	})
	t.Run("rate limited per address", func(t *testing.T) {
		var err error
		for range 20 {
			if _, err = e.svc.ResetPassword(ctx, "kvmp_"+strings.Repeat("B", 43), newPassword, "198.51.100.3"); errors.Is(err, ErrRateLimited) {
				break
			}
			require.ErrorIs(t, err, ErrInvalidToken)
		}
		assert.ErrorIs(t, err, ErrRateLimited)
	})

	var events []string
	for _, r := range auditsOf(e.audits(t, org.ID), store.AuditPasswordReset) {
		events = append(events, r.Details["event"]+":"+r.Target+":"+r.Actor)
	}
	assert.Equal(t, []string{
		"issued:user:" + op.ID + ":" + admin.String(),
		"used:user:" + op.ID + ":user:" + op.ID,
		"issued:user:" + admin.ID + ":" + owner.String(),
		"issued:user:" + viewer.ID + ":" + owner.String(),
	}, events)
}

func TestPasswordResetByMail(t *testing.T) {
	mailer := &fakeMailer{}
	e := newEnv(t, func(c *Config) { c.Mailer = mailer })
	ctx := context.Background()
	org, owner := e.owner(t)
	op := e.addUser(t, org.ID, "op@acme.test", "operator password", store.RoleOperator, nil)
	link, _, err := e.svc.IssuePasswordReset(ctx, owner, op.ID)
	require.NoError(t, err)
	assert.Empty(t, link, "mailed, not returned")
	require.Len(t, mailer.sent, 1)
	assert.Equal(t, "op@acme.test", mailer.sent[0].to)
	assert.Contains(t, mailer.sent[0].body, "https://relay.test/console/#reset=kvmp_")

	mailer.err = assert.AnError
	link, _, err = e.svc.IssuePasswordReset(ctx, owner, op.ID)
	require.ErrorIs(t, err, ErrMail)
	assert.NotEmpty(t, link, "on a mail failure the admin gets the link")
}

func TestSetDisabled(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	admin := e.addUser(t, org.ID, "admin@acme.test", "admin password", store.RoleAdmin, nil)
	op := e.addUser(t, org.ID, "op@acme.test", "operator password", store.RoleOperator, nil)
	owner2 := e.addUser(t, org.ID, "owner2@acme.test", "second owner password", store.RoleOwner, nil)

	for _, tc := range []struct {
		name string
		p    Principal
		user string
		err  error
	}{
		{"operator may not", Principal{OrgID: org.ID, Kind: KindUser, ID: store.NewID(), Role: store.RoleOperator}, op.ID, ErrForbidden},
		{"admin may not disable an owner", admin, owner.ID, ErrForbidden},
		{"nobody disables themselves", admin, admin.ID, ErrInvalid},
		{"unknown user", admin, store.NewID(), ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.SetDisabled(ctx, tc.p, tc.user, true)
			require.ErrorIs(t, err, tc.err)
		})
	}

	session, err := login(e, "op@acme.test", "operator password")
	require.NoError(t, err)
	u, err := e.svc.SetDisabled(ctx, admin, op.ID, true)
	require.NoError(t, err)
	assert.True(t, u.Disabled)
	_, err = e.svc.Authenticate(ctx, session.Access)
	require.ErrorIs(t, err, ErrInvalidToken)
	_, err = e.svc.Refresh(ctx, session.Refresh, "192.0.2.10:5555")
	require.Error(t, err, "refresh tokens revoked")
	_, err = login(e, "op@acme.test", "operator password")
	require.ErrorIs(t, err, ErrBadCredentials)

	_, err = e.svc.SetDisabled(ctx, admin, op.ID, true)
	require.NoError(t, err, "disabling twice is fine")
	_, err = e.svc.SetDisabled(ctx, admin, op.ID, false)
	require.NoError(t, err)
	_, err = login(e, "op@acme.test", "operator password")
	require.NoError(t, err)

	// Two owners: one may be disabled, not the last active one.
	_, err = e.svc.SetDisabled(ctx, owner, owner2.ID, true)
	require.NoError(t, err)
	_, err = e.svc.SetDisabled(ctx, owner2, owner.ID, true)
	require.ErrorIs(t, err, ErrInvalid, "the last active owner stays")

	var got []string
	for _, r := range e.audits(t, org.ID) {
		if r.Action == store.AuditUserDisable || r.Action == store.AuditUserEnable {
			got = append(got, string(r.Action)+":"+r.Target+":"+r.Actor)
		}
	}
	assert.Equal(t, []string{
		"user_disable:user:" + op.ID + ":" + admin.String(),
		"user_enable:user:" + op.ID + ":" + admin.String(),
		"user_disable:user:" + owner2.ID + ":" + owner.String(),
	}, got)
}

func TestResetMFA(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	admin := e.addUser(t, org.ID, "admin@acme.test", "admin password", store.RoleAdmin, nil)

	secret, _, err := e.svc.BeginTOTP(ctx, owner)
	require.NoError(t, err)
	_, err = e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret, e.clock.Now()))
	require.NoError(t, err)
	_, err = loginMFA(e, "", "")
	require.ErrorIs(t, err, ErrMFARequired)

	require.ErrorIs(t, e.svc.ResetMFA(ctx, admin, owner.ID), ErrForbidden, "an admin may not reset an owner")
	require.ErrorIs(t, e.svc.ResetMFA(ctx, owner, owner.ID), ErrInvalid, "not for oneself")
	owner2 := e.addUser(t, org.ID, "owner2@acme.test", "second owner password", store.RoleOwner, nil)
	require.NoError(t, e.svc.ResetMFA(ctx, owner2, owner.ID))

	u := e.user(t, org.ID, owner.ID)
	assert.False(t, u.TOTPConfirmed)
	assert.Empty(t, u.TOTPSecret)
	_, err = loginMFA(e, "", "")
	require.NoError(t, err, "the password alone logs in again")

	changes := auditsOf(e.audits(t, org.ID), store.AuditMFAChange)
	last := changes[len(changes)-1]
	assert.Equal(t, owner2.String(), last.Actor)
	assert.Equal(t, "user:"+owner.ID, last.Target)
	assert.Equal(t, "totp_reset_by_admin", last.Details["change"])
}

func TestTOTPSealedAtRest(t *testing.T) {
	key := make([]byte, SecretKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	st := sqliteStore(t)
	e := newEnvOn(t, st, func(c *Config) { c.SecretKey = key })
	ctx := context.Background()
	org, owner := e.owner(t)

	secret, _, err := e.svc.BeginTOTP(ctx, owner)
	require.NoError(t, err)
	stored := e.user(t, org.ID, owner.ID).TOTPSecret
	assert.True(t, strings.HasPrefix(stored, "v1:"), "sealed: %q", stored)
	assert.NotContains(t, stored, secret)
	_, err = e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret, e.clock.Now()))
	require.NoError(t, err)
	e.clock.Add(30 * time.Second)
	_, err = loginMFA(e, authenticator(t, secret, e.clock.Now()), "")
	require.NoError(t, err)

	// Moved onto another user (a database writer's trick), the sealed secret opens for nobody.
	other := e.addUser(t, org.ID, "other@acme.test", "other password!", store.RoleViewer, nil)
	require.NoError(t, st.Write(ctx, org.ID, func(tx store.Tx) error {
		u, err := tx.User(ctx, other.ID)
		require.NoError(t, err)
		u.TOTPSecret, u.TOTPConfirmed = stored, true
		return tx.UpdateUser(ctx, u)
	}))
	e.clock.Add(30 * time.Second)
	_, err = e.svc.Login(ctx, LoginRequest{Org: "acme", Email: "other@acme.test", Password: "other password!", TOTP: authenticator(t, secret, e.clock.Now())})
	require.ErrorIs(t, err, ErrBadCredentials)

	// A legacy plaintext secret still works, and is sealed when the user is next written.
	require.NoError(t, st.Write(ctx, org.ID, func(tx store.Tx) error {
		u, err := tx.User(ctx, owner.ID)
		require.NoError(t, err)
		u.TOTPSecret = secret
		return tx.UpdateUser(ctx, u)
	}))
	e.clock.Add(30 * time.Second)
	_, err = loginMFA(e, authenticator(t, secret, e.clock.Now()), "")
	require.NoError(t, err)
	resealed := e.user(t, org.ID, owner.ID).TOTPSecret
	assert.True(t, strings.HasPrefix(resealed, "v1:"), "re-sealed on write: %q", resealed)

	// Another key (a node configured wrongly) cannot read it: the login fails, nothing leaks.
	wrong := newEnvOn(t, st, func(c *Config) { c.SecretKey = make([]byte, SecretKeySize) })
	wrong.clock.Add(90 * time.Second)
	_, err = wrong.svc.Login(ctx, LoginRequest{Org: "acme", Email: "owner@acme.test", Password: ownerPassword, TOTP: authenticator(t, secret, wrong.clock.Now())})
	require.ErrorIs(t, err, ErrBadCredentials)

	_, err = New(Config{Store: st, Issuer: e.iss, SecretKey: []byte("short")})
	require.Error(t, err, "a key of the wrong size is refused")
}

func TestRefreshGrace(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, _ := e.owner(t)
	const addr = "192.0.2.10:5555"

	t.Run("inside the grace window: the same successor", func(t *testing.T) {
		tok, err := login(e, "owner@acme.test", ownerPassword)
		require.NoError(t, err)
		first, err := e.svc.Refresh(ctx, tok.Refresh, addr)
		require.NoError(t, err)
		e.clock.Add(5 * time.Second)
		second, err := e.svc.Refresh(ctx, tok.Refresh, "192.0.2.10:6666")
		require.NoError(t, err, "a second tab, same address, within 10 s")
		assert.Equal(t, first, second)
		// The family lives on: the successor rotates normally.
		_, err = e.svc.Refresh(ctx, first.Refresh, addr)
		require.NoError(t, err)
	})
	t.Run("concurrent presentations", func(t *testing.T) {
		tok, err := login(e, "owner@acme.test", ownerPassword)
		require.NoError(t, err)
		var wg sync.WaitGroup
		got := make([]Tokens, 4)
		errs := make([]error, 4)
		for i := range got {
			wg.Go(func() { got[i], errs[i] = e.svc.Refresh(ctx, tok.Refresh, addr) })
		}
		wg.Wait()
		for i := range got {
			require.NoError(t, errs[i])
			assert.Equal(t, got[0], got[i])
		}
	})
	t.Run("from another address: reuse", func(t *testing.T) {
		tok, err := login(e, "owner@acme.test", ownerPassword)
		require.NoError(t, err)
		next, err := e.svc.Refresh(ctx, tok.Refresh, addr)
		require.NoError(t, err)
		_, err = e.svc.Refresh(ctx, tok.Refresh, "198.51.100.7:1")
		require.ErrorIs(t, err, ErrTokenReused)
		_, err = e.svc.Refresh(ctx, next.Refresh, addr)
		require.Error(t, err, "the family is revoked")
	})
	t.Run("after the grace window: reuse, family revoked and audited", func(t *testing.T) {
		tok, err := login(e, "owner@acme.test", ownerPassword)
		require.NoError(t, err)
		next, err := e.svc.Refresh(ctx, tok.Refresh, addr)
		require.NoError(t, err)
		e.clock.Add(11 * time.Second)
		_, err = e.svc.Refresh(ctx, tok.Refresh, addr)
		require.ErrorIs(t, err, ErrTokenReused)
		_, err = e.svc.Refresh(ctx, next.Refresh, addr)
		require.Error(t, err, "the family is revoked")
		rt, err := parseRefreshToken(tok.Refresh)
		require.NoError(t, err)
		found := false
		for _, r := range auditsOf(e.audits(t, org.ID), store.AuditLoginFailed) {
			found = found || (r.Details["reason"] == reasonRefreshReused && r.Details["family"] == rt.familyID)
		}
		assert.True(t, found, "the reuse is audited")
	})
	t.Run("after logout: no grace", func(t *testing.T) {
		tok, err := login(e, "owner@acme.test", ownerPassword)
		require.NoError(t, err)
		next, err := e.svc.Refresh(ctx, tok.Refresh, addr)
		require.NoError(t, err)
		require.NoError(t, e.svc.Logout(ctx, next.Refresh))
		_, err = e.svc.Refresh(ctx, tok.Refresh, addr)
		require.Error(t, err)
	})
}

func TestOIDCScopeClaim(t *testing.T) {
	for _, tc := range []struct {
		name string
		val  any
		want map[string]string
		ok   bool
	}{
		{"object", map[string]any{"site": "fra1", "rack": "a"}, map[string]string{"site": "fra1", "rack": "a"}, true},
		{"list", []any{"site=fra1", " rack = a "}, map[string]string{"site": "fra1", "rack": "a"}, true},
		{"string", "site=fra1,rack=a", map[string]string{"site": "fra1", "rack": "a"}, true},
		{"every device", "*", nil, true},
		{"missing", nil, nil, false},
		{"empty object", map[string]any{}, nil, false},
		{"empty list", []any{}, nil, false},
		{"empty string", "", nil, false},
		{"not key=value", "fra1", nil, false},
		{"number value", map[string]any{"site": 1.0}, nil, false},
		{"list of numbers", []any{1.0}, nil, false},
		{"conflicting", []any{"site=a", "site=b"}, nil, false},
		{"a number", 42.0, nil, false},
		{"control character", map[string]any{"site": "a\nb"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseScopeClaim(tc.val)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestOIDCScopeClaimGrantsOnlyThatScope: end to end, the principal carries the claim's scope,
// and a token without the claim is refused rather than granted every device.
func TestOIDCScopeClaimGrantsOnlyThatScope(t *testing.T) {
	idp := newTestIdP(t)
	key := idp.addKey(t, rsaKey(t, 2048), "rsa1", "RS256", "sig")
	cfg := oidcConfig(idp)
	cfg.ScopeClaim = "kvm.scope"
	e := newEnv(t, func(c *Config) { c.OIDC = cfg })
	ctx := context.Background()
	e.owner(t)
	now := e.clock.Now()
	claims := func(scope any) map[string]any {
		c := map[string]any{
			"iss": idp.srv.URL, "aud": "kvmrelay", "sub": "kc-user-1", "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
			"org": "acme", "realm_access": map[string]any{"roles": []string{"kvm-admin"}},
		}
		if scope != nil {
			c["kvm"] = map[string]any{"scope": scope}
		}
		return c
	}
	p, err := e.svc.Authenticate(ctx, sign(t, key, jwa.RS256(), claims(map[string]any{"site": "fra1"})))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"site": "fra1"}, p.Scope)
	assert.False(t, p.SeesDevice(map[string]string{"site": "ams1"}))
	p, err = e.svc.Authenticate(ctx, sign(t, key, jwa.RS256(), claims("*")))
	require.NoError(t, err)
	assert.Nil(t, p.Scope)
	for _, bad := range []any{nil, []any{}, "nonsense"} {
		_, err := e.svc.Authenticate(ctx, sign(t, key, jwa.RS256(), claims(bad)))
		require.ErrorIs(t, err, ErrForbidden, "%v", bad)
	}
}

func TestRotationsForgetExpiredSuccessors(t *testing.T) {
	r := newRotations(10*time.Second, 100)
	now := time.Unix(1_800_000_000, 0)
	for i := range 5 {
		rt := refreshToken{hash: strconv.Itoa(i), familyID: "f", userID: "u"}
		_, lead := r.begin(rt, "a", now)
		require.True(t, lead)
		r.finish(rt.hash, true, Tokens{Refresh: "successor"}, now)
	}
	require.Len(t, r.m, 5)
	_, lead := r.begin(refreshToken{hash: "new"}, "a", now.Add(11*time.Second))
	require.True(t, lead)
	assert.Len(t, r.m, 1, "successors older than the window are dropped, not kept until the map fills")
}
