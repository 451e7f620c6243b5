package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
)

func login(e *env, email, password string) (Tokens, error) {
	return e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: email, Password: password, ClientAddr: "192.0.2.10:5555"})
}

func TestLoginRefreshReuse(t *testing.T) {
	e := newEnv(t, nil)
	testLoginRefreshReuse(t, e)
}

// testLoginRefreshReuse is the login → refresh → reuse path; it runs on SQLite and PostgreSQL.
func testLoginRefreshReuse(t *testing.T, e *env) {
	ctx := context.Background()
	org, owner := e.owner(t)

	tok, err := login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	assert.Equal(t, e.clock.Now().Add(15*time.Minute), tok.AccessExpiresAt)
	assert.Equal(t, e.clock.Now().Add(7*24*time.Hour), tok.RefreshExpiresAt)
	c, err := e.iss.Verify(tok.Access, auth.AudienceAPI)
	require.NoError(t, err)
	assert.Equal(t, owner.ID, c.Subject)
	assert.Equal(t, org.ID, c.Tenant)
	assert.Equal(t, "owner", c.Role)

	p, err := e.svc.Authenticate(ctx, "Bearer "+tok.Access)
	require.NoError(t, err)
	assert.Equal(t, owner, p)
	assert.Equal(t, "user:"+owner.ID, p.String())

	e.clock.Add(10 * time.Minute)
	tok2, err := e.svc.Refresh(ctx, tok.Refresh, "192.0.2.10:5555")
	require.NoError(t, err)
	assert.NotEqual(t, tok.Refresh, tok2.Refresh)
	assert.Equal(t, e.clock.Now().Add(7*24*time.Hour), tok2.RefreshExpiresAt, "rotation renews the lifetime")
	_, err = e.svc.Authenticate(ctx, tok2.Access)
	require.NoError(t, err)

	// The rotated token comes back: someone else has it. The family dies, both tokens with it.
	_, err = e.svc.Refresh(ctx, tok.Refresh, "198.51.100.7:1")
	require.ErrorIs(t, err, ErrTokenReused)
	_, err = e.svc.Refresh(ctx, tok2.Refresh, "192.0.2.10:5555")
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrTokenReused) || errors.Is(err, ErrInvalidToken), "%v", err)

	// Another login is another family: unaffected.
	tok3, err := login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	_, err = e.svc.Refresh(ctx, tok3.Refresh, "192.0.2.10:5555")
	require.NoError(t, err)

	recs := e.audits(t, org.ID)
	logins := auditsOf(recs, store.AuditLogin)
	require.Len(t, logins, 2)
	assert.Equal(t, "user:"+owner.ID, logins[0].Actor)
	assert.Equal(t, "password", logins[0].Details["method"])
	assert.Equal(t, "192.0.2.10:5555", logins[0].Details["addr"])
	var reused []store.AuditRecord
	for _, r := range auditsOf(recs, store.AuditLoginFailed) {
		if r.Details["reason"] == reasonRefreshReused {
			reused = append(reused, r)
		}
	}
	require.NotEmpty(t, reused)
	assert.Equal(t, "user:"+owner.ID, reused[0].Target)
	assert.Equal(t, "198.51.100.7:1", reused[0].Details["addr"])
}

func TestLoginBadCredentials(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, _ := e.owner(t)
	bob := e.addUser(t, org.ID, "bob@acme.test", "bobs password!", store.RoleOperator, nil)
	require.NoError(t, e.store.Write(ctx, org.ID, func(tx store.Tx) error {
		u, err := tx.User(ctx, bob.ID)
		if err != nil {
			return err
		}
		u.Disabled = true
		return tx.UpdateUser(ctx, u)
	}))

	var msgs []string
	for _, tc := range []struct {
		name, org, email, password, reason string
	}{
		{"unknown organization", "nope", "owner@acme.test", ownerPassword, ""},
		{"malformed organization", "../acme", "owner@acme.test", ownerPassword, ""},
		{"unknown user", "acme", "eve@acme.test", ownerPassword, reasonUnknownUser},
		{"wrong password", "acme", "owner@acme.test", ownerPassword + "!", reasonBadPassword},
		{"empty password", "acme", "owner@acme.test", "", reasonBadPassword},
		{"oversized password", "acme", "owner@acme.test", strings.Repeat("x", MaxPasswordBytes+1), ""},
		{"disabled user", "acme", "bob@acme.test", "bobs password!", reasonDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(auditsOf(e.audits(t, org.ID), store.AuditLoginFailed))
			_, err := e.svc.Login(ctx, LoginRequest{Org: tc.org, Email: tc.email, Password: tc.password, ClientAddr: "192.0.2.1"})
			require.ErrorIs(t, err, ErrBadCredentials)
			msgs = append(msgs, err.Error())
			fails := auditsOf(e.audits(t, org.ID), store.AuditLoginFailed)
			if tc.reason == "" {
				assert.Len(t, fails, before)
				return
			}
			require.Len(t, fails, before+1)
			last := fails[len(fails)-1]
			assert.Equal(t, tc.reason, last.Details["reason"])
			assert.Equal(t, "192.0.2.1", last.Details["addr"])
			for k, v := range last.Details {
				if tc.password != "" {
					assert.NotContains(t, v, tc.password, "never the password (%s)", k)
				}
			}
		})
	}
	for _, m := range msgs {
		assert.Equal(t, msgs[0], m, "one message for every kind of failure")
	}
}

func TestLoginNormalizesEmail(t *testing.T) {
	e := newEnv(t, nil)
	org, u, err := e.svc.CreateOwner(context.Background(), " Acme ", " ACME ", "  Owner@Acme.TEST ", ownerPassword)
	require.NoError(t, err)
	assert.Equal(t, "owner@acme.test", u.Email)
	assert.Equal(t, "acme", org.Slug)
	assert.Equal(t, "Acme", org.Name)
	_, err = e.svc.Login(context.Background(), LoginRequest{Org: "Acme", Email: "OWNER@acme.test ", Password: ownerPassword})
	assert.NoError(t, err)
}

func TestCreateOwnerValidates(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, tc := range []struct{ name, org, slug, email, pw string }{
		{"empty name", "", "acme", "a@acme.test", ownerPassword},
		{"bad slug", "Acme", "ac me", "a@acme.test", ownerPassword},
		{"slug too long", "Acme", strings.Repeat("a", 64), "a@acme.test", ownerPassword},
		{"bad email", "Acme", "acme", "not-an-email", ownerPassword},
		{"email with display name", "Acme", "acme", "A <a@acme.test>", ownerPassword},
		{"short password", "Acme", "acme", "a@acme.test", "short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.CreateOwner(ctx, tc.org, tc.slug, tc.email, tc.pw)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}
	_, _, err := e.svc.CreateOwner(ctx, "Acme", "acme", "a@acme.test", ownerPassword)
	require.NoError(t, err)
	_, _, err = e.svc.CreateOwner(ctx, "Acme 2", "acme", "b@acme.test", ownerPassword)
	assert.ErrorIs(t, err, ErrConflict)
}

// TestUnknownUserCostsAHash: an unknown organization or user is answered only after a password
// verification, as a known user is, when the hasher has room (the normal case). When real
// work holds the hashing slots, that dummy verification is shed first: no argon2 runs for it
// (the answer imitates a verification's time and is the same), so made-up accounts cannot
// take the cores from real ones.
func TestUnknownUserCostsAHash(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConcurrentHashes = 1 })
	e.owner(t)
	e.svc.dummy() // computed once, before the slot is taken
	for _, tc := range []struct{ name, org, email string }{
		{"unknown organization", "nope", "owner@acme.test"},
		{"unknown user", "acme", "eve@acme.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			runs, shed := e.svc.hasher.runs.Load(), e.svc.hasher.shed.Load()
			_, err := e.svc.Login(ctx, LoginRequest{Org: tc.org, Email: tc.email, Password: ownerPassword})
			assert.ErrorIs(t, err, ErrBadCredentials)
			assert.Equal(t, runs+1, e.svc.hasher.runs.Load(), "idle: a real argon2 run")
			assert.Equal(t, shed, e.svc.hasher.shed.Load())

			require.NoError(t, e.svc.hasher.acquire(ctx))
			defer e.svc.hasher.release(false)
			_, err = e.svc.Login(ctx, LoginRequest{Org: tc.org, Email: tc.email, Password: ownerPassword})
			assert.ErrorIs(t, err, ErrBadCredentials, "the same answer under load")
			assert.Equal(t, runs+1, e.svc.hasher.runs.Load(), "under load: no argon2 for a made-up account")
			assert.Equal(t, shed+1, e.svc.hasher.shed.Load())
		})
	}
}

func TestLoginFailuresSlowDown(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	for i := range 3 {
		_, err := login(e, "owner@acme.test", "wrong password "+string(rune('a'+i)))
		require.ErrorIs(t, err, ErrBadCredentials, "free failure %d", i+1)
	}
	// The 4th failure makes the next attempt wait 1 s, the 5th 2 s: doubling.
	_, err := login(e, "owner@acme.test", "wrong password d")
	require.ErrorIs(t, err, ErrBadCredentials)
	_, err = login(e, "owner@acme.test", ownerPassword)
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl, "even the right password waits")
	assert.ErrorIs(t, err, ErrRateLimited)
	assert.Equal(t, time.Second, rl.RetryAfter)

	e.clock.Add(time.Second)
	_, err = login(e, "owner@acme.test", "wrong password e")
	require.ErrorIs(t, err, ErrBadCredentials)
	_, err = login(e, "owner@acme.test", ownerPassword)
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 2*time.Second, rl.RetryAfter)
	assert.Equal(t, 5, e.user(t, org.ID, owner.ID).FailedLogins)

	e.clock.Add(2 * time.Second)
	_, err = login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	assert.Equal(t, 0, e.user(t, org.ID, owner.ID).FailedLogins, "success resets the count")

	fails := auditsOf(e.audits(t, org.ID), store.AuditLoginFailed)
	reasons := map[string]int{}
	for _, f := range fails {
		reasons[f.Details["reason"]]++
	}
	assert.Equal(t, map[string]int{reasonBadPassword: 5, reasonLocked: 2}, reasons)
	assert.Equal(t, "5", fails[len(fails)-2].Details["failures"])
	_ = ctx
}

func TestFailureDelayCapped(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{
		{0, 0}, {3, 0}, {4, time.Second}, {5, 2 * time.Second}, {10, 64 * time.Second},
		{14, 15 * time.Minute}, {1000, 15 * time.Minute},
	} {
		assert.Equal(t, tc.want, e.svc.failureDelay(tc.n), "%d failures", tc.n)
	}
}

func TestLoginRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Limits.LoginPerAddr = Limit{Every: time.Minute, Burst: 3}
		c.Limits.LoginPerAccount = Limit{Every: time.Minute, Burst: 2}
	})
	ctx := context.Background()
	e.owner(t)
	try := func(email, addr string) error {
		_, err := e.svc.Login(ctx, LoginRequest{Org: "acme", Email: email, Password: ownerPassword, ClientAddr: addr})
		return err
	}
	// Per account, whether or not it exists.
	require.ErrorIs(t, try("ghost@acme.test", "192.0.2.1:1"), ErrBadCredentials)
	require.ErrorIs(t, try("ghost@acme.test", "192.0.2.2:1"), ErrBadCredentials)
	err := try("GHOST@acme.test", "192.0.2.3:1")
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, time.Minute, rl.RetryAfter)

	// Per address (one /64 for IPv6), across accounts.
	require.ErrorIs(t, try("a@acme.test", "[2001:db8::1]:1"), ErrBadCredentials)
	require.ErrorIs(t, try("b@acme.test", "[2001:db8::2]:1"), ErrBadCredentials)
	require.NoError(t, try("owner@acme.test", "[2001:db8::3]:1"))
	require.ErrorIs(t, try("owner@acme.test", "[2001:db8::4]:1"), ErrRateLimited)
	require.NoError(t, try("owner@acme.test", "[2001:db8:0:1::4]:1"), "another /64")

	e.clock.Add(time.Minute)
	require.NoError(t, try("owner@acme.test", "[2001:db8::4]:1"))
}

func TestRefreshRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Limits.RefreshPerAddr = Limit{Every: time.Minute, Burst: 2}
		c.Limits.RefreshPerAccount = Limit{Every: time.Minute, Burst: 3}
	})
	ctx := context.Background()
	e.owner(t)
	tok, err := login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	tok, err = e.svc.Refresh(ctx, tok.Refresh, "192.0.2.1:1")
	require.NoError(t, err)
	tok, err = e.svc.Refresh(ctx, tok.Refresh, "192.0.2.1:2")
	require.NoError(t, err)
	_, err = e.svc.Refresh(ctx, tok.Refresh, "192.0.2.1:3")
	require.ErrorIs(t, err, ErrRateLimited, "per address")
	tok, err = e.svc.Refresh(ctx, tok.Refresh, "192.0.2.2:1")
	require.NoError(t, err, "a refused attempt does not consume the token")
	_, err = e.svc.Refresh(ctx, tok.Refresh, "192.0.2.3:1")
	require.ErrorIs(t, err, ErrRateLimited, "per account")
}

func TestRefreshRejects(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	tok, err := login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)

	flipped := tok.Refresh[:len(tok.Refresh)-2] + "A" + tok.Refresh[len(tok.Refresh)-1:]
	if flipped == tok.Refresh {
		flipped = tok.Refresh[:len(tok.Refresh)-2] + "B" + tok.Refresh[len(tok.Refresh)-1:]
	}
	for _, bad := range []string{"", "garbage", tok.Access, flipped, "kvmr_" + strings.Repeat("A", 86)} {
		_, err := e.svc.Refresh(ctx, bad, "192.0.2.1")
		assert.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}

	t.Run("expired", func(t *testing.T) {
		e.clock.Add(7*24*time.Hour + time.Second)
		defer e.clock.Add(-(7*24*time.Hour + time.Second))
		_, err := e.svc.Refresh(ctx, tok.Refresh, "192.0.2.1")
		assert.ErrorIs(t, err, ErrInvalidToken)
	})

	t.Run("disabled user", func(t *testing.T) {
		tok, err := login(e, "owner@acme.test", ownerPassword)
		require.NoError(t, err)
		setDisabled(t, e, org.ID, owner.ID, true)
		defer setDisabled(t, e, org.ID, owner.ID, false)
		_, err = e.svc.Refresh(ctx, tok.Refresh, "192.0.2.1")
		assert.ErrorIs(t, err, ErrInvalidToken)
	})

	t.Run("after logout", func(t *testing.T) {
		tok, err := login(e, "owner@acme.test", ownerPassword)
		require.NoError(t, err)
		next, err := e.svc.Refresh(ctx, tok.Refresh, "192.0.2.1")
		require.NoError(t, err)
		require.NoError(t, e.svc.Logout(ctx, tok.Refresh), "any token of the family logs it out")
		_, err = e.svc.Refresh(ctx, next.Refresh, "192.0.2.1")
		assert.Error(t, err)
		assert.ErrorIs(t, e.svc.Logout(ctx, "kvmr_"+strings.Repeat("A", 86)), ErrInvalidToken)
	})
}

func setDisabled(t *testing.T, e *env, orgID, userID string, disabled bool) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, e.store.Write(ctx, orgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		u.Disabled = disabled
		return tx.UpdateUser(ctx, u)
	}))
}

func TestAuthenticateAccessToken(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	bob := e.addUser(t, org.ID, "bob@acme.test", "bobs password!", store.RoleOperator, map[string]string{"site": "lab"})
	tok, err := login(e, "bob@acme.test", "bobs password!")
	require.NoError(t, err)
	p, err := e.svc.Authenticate(ctx, tok.Access)
	require.NoError(t, err)
	assert.Equal(t, bob, p)

	// A role change applies at once, not when the token expires.
	require.NoError(t, e.svc.SetRole(ctx, owner, bob.ID, store.RoleViewer))
	p, err = e.svc.Authenticate(ctx, tok.Access)
	require.NoError(t, err)
	assert.Equal(t, store.RoleViewer, p.Role)

	setDisabled(t, e, org.ID, bob.ID, true)
	_, err = e.svc.Authenticate(ctx, tok.Access)
	assert.ErrorIs(t, err, ErrInvalidToken, "disabled")
	setDisabled(t, e, org.ID, bob.ID, false)

	console, _, err := e.iss.Mint(auth.Claims{Subject: bob.ID, Audience: auth.AudienceConsole, Tenant: org.ID}, time.Minute)
	require.NoError(t, err)
	noTenant, _, err := e.iss.Mint(auth.Claims{Subject: bob.ID, Audience: auth.AudienceAPI}, time.Minute)
	require.NoError(t, err)
	otherOrg, _, err := e.iss.Mint(auth.Claims{Subject: bob.ID, Audience: auth.AudienceAPI, Tenant: store.NewID()}, time.Minute)
	require.NoError(t, err)
	foreign := testIssuer(t, e.clock)
	forged, _, err := foreign.Mint(auth.Claims{Subject: owner.ID, Audience: auth.AudienceAPI, Tenant: org.ID, Role: "owner"}, time.Minute)
	require.NoError(t, err)
	for _, tc := range []struct{ name, bearer string }{
		{"empty", ""},
		{"bearer only", "Bearer "},
		{"garbage", "abc.def.ghi"},
		{"console audience", console},
		{"no tenant", noTenant},
		{"user not in that org", otherOrg},
		{"signed by another key", forged},
		{"refresh token", tok.Refresh},
		{"huge", strings.Repeat("a", maxBearerLen+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Authenticate(ctx, tc.bearer)
			assert.ErrorIs(t, err, ErrInvalidToken)
		})
	}

	t.Run("expired", func(t *testing.T) {
		e.clock.Add(16 * time.Minute)
		defer e.clock.Add(-16 * time.Minute)
		_, err := e.svc.Authenticate(ctx, tok.Access)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
}

func TestLoginRehashesOldParameters(t *testing.T) {
	st := sqliteStore(t)
	old := newEnvOn(t, st, nil)
	org, owner := old.owner(t)
	oldHash := old.user(t, org.ID, owner.ID).PasswordHash
	assert.Contains(t, oldHash, "$m=64,t=1,p=1$")

	stronger := cheapArgon2
	stronger.Memory, stronger.Time = 128, 2
	e := newEnvOn(t, st, func(c *Config) { c.Argon2 = stronger })
	_, err := login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	newHash := e.user(t, org.ID, owner.ID).PasswordHash
	assert.Contains(t, newHash, "$m=128,t=2,p=1$")
	_, err = login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err, "the new hash verifies")
	logins := auditsOf(e.audits(t, org.ID), store.AuditLogin)
	assert.Equal(t, "true", logins[0].Details["rehashed"])
	assert.Empty(t, logins[1].Details["rehashed"])
}
