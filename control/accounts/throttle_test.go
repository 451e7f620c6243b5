package accounts

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// attempt logs in as owner@acme.test from addr with device token dev.
func attempt(e *env, password, addr, dev string) (Tokens, error) {
	return e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: "owner@acme.test", Password: password, ClientAddr: addr, DeviceToken: dev})
}

// rotatingAddr is the i-th address of an attacker who rotates through many.
func rotatingAddr(i int) string { return fmt.Sprintf("198.51.%d.%d:4000", 100+i/250, i%250+1) }

// TestRotatingFloodKeepsUserOutSeconds is the attack: 16 wrong passwords in 45 s, each
// from another address. The real user is then kept out a few seconds at most from a fresh
// address, not at all with the device cookie of an earlier login or from an address that
// signed in before; the attacker's addresses, not the account, are what locks.
func TestRotatingFloodKeepsUserOutSeconds(t *testing.T) {
	e := newEnv(t, nil)
	e.owner(t)
	earlier, err := attempt(e, ownerPassword, "192.0.2.10:1", "")
	require.NoError(t, err)
	require.NotEmpty(t, earlier.Device, "a login hands out a device token")

	for i := range 16 {
		_, err := attempt(e, fmt.Sprintf("guess %d", i), rotatingAddr(i), "")
		require.Error(t, err)
		e.clock.Add(3 * time.Second)
	}

	t.Run("device cookie: straight in", func(t *testing.T) {
		_, err := attempt(e, ownerPassword, "203.0.113.77:1", earlier.Device)
		require.NoError(t, err)
	})
	t.Run("address that signed in before: straight in", func(t *testing.T) {
		_, err := attempt(e, ownerPassword, "192.0.2.10:2", "")
		require.NoError(t, err)
	})
	// Those successes ended the account's run of failures. The attacker starts another and
	// keeps it up: one guess a second, each from a fresh address, for ten minutes.
	for i := 16; i < 16+600; i++ {
		if _, err := attempt(e, fmt.Sprintf("guess %d", i), rotatingAddr(i), ""); err == nil {
			t.Fatal("a guess got in")
		}
		e.clock.Add(time.Second)
	}
	t.Run("fresh address: waits a few seconds at most", func(t *testing.T) {
		var err error
		for try := 0; try < 3; try++ {
			_, err = attempt(e, ownerPassword, "203.0.113.200:1", "")
			var rl *RateLimitError
			if !errors.As(err, &rl) {
				break
			}
			require.LessOrEqual(t, rl.RetryAfter, 5*time.Second, "the account slows down, it does not lock")
			e.clock.Add(rl.RetryAfter)
		}
		require.NoError(t, err)
	})
	t.Run("the attacker's address stays locked", func(t *testing.T) {
		addr := rotatingAddr(40)
		for failures := 0; failures < 8; {
			_, err := attempt(e, "another guess", addr, "")
			var rl *RateLimitError
			if errors.As(err, &rl) {
				e.clock.Add(rl.RetryAfter)
				continue
			}
			require.ErrorIs(t, err, ErrBadCredentials)
			failures++
		}
		_, err := attempt(e, ownerPassword, addr, "")
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl, "even the right password waits at a locked address")
		assert.Equal(t, 16*time.Second, rl.RetryAfter, "8 failures from this address: 16 s, doubling up to 15 min")
	})
}

// TestDeviceToken: a device token vouches only for the user it was handed to, and its own
// failures lock it like an address.
func TestDeviceToken(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.LoginPerAccount = Limit{Every: time.Hour, Burst: 1} })
	org, _ := e.owner(t)
	other := e.addUser(t, org.ID, "vera@acme.test", ownerPassword, "viewer", nil)
	tok, err := e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: other.Email, Password: ownerPassword, ClientAddr: "192.0.2.1:1"})
	require.NoError(t, err)
	owner, err := attempt(e, ownerPassword, "192.0.2.2:1", "")
	require.NoError(t, err, "the owner's one untrusted attempt this hour")

	for _, tc := range []struct {
		name, dev string
		trusted   bool
	}{
		{"none", "", false},
		{"another user's", tok.Device, false},
		{"garbage", "not.a.token", false},
		{"an access token", owner.Access, false},
		{"the owner's own", owner.Device, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := attempt(e, ownerPassword, "203.0.113.9:1", tc.dev)
			if tc.trusted {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrRateLimited, "untrusted: the account's bucket is spent")
			}
		})
	}
	t.Run("a stolen cookie locks itself", func(t *testing.T) {
		for i := range 4 {
			_, err := attempt(e, fmt.Sprintf("guess %d", i), fmt.Sprintf("203.0.113.%d:1", 20+i), owner.Device)
			require.ErrorIs(t, err, ErrBadCredentials)
		}
		_, err := attempt(e, ownerPassword, "203.0.113.30:1", owner.Device)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, time.Second, rl.RetryAfter)
	})
}

// TestGuessesPerHour (over 10 minutes, to stay quick): however many addresses an attacker rotates through, one account gets few
// guesses an hour; the bound is the account's slowdown (one per MaxAccountDelay) plus the
// bucket's burst. The same holds for an account that does not exist (nothing tells them
// apart).
func TestGuessesPerHour(t *testing.T) {
	for _, email := range []string{"owner@acme.test", "ghost@acme.test"} {
		t.Run(email, func(t *testing.T) {
			e := newEnv(t, nil)
			e.owner(t)
			checked, next := 0, 0
			start := e.clock.Now()
			for e.clock.Now().Sub(start) < 10*time.Minute {
				// Every 500 ms, five attempts from five fresh addresses.
				for range 5 {
					_, err := e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: email, Password: "guess", ClientAddr: rotatingAddr(next)})
					next++
					if !assert.NotErrorIs(t, err, ErrBusy) {
						return
					}
					if !errorsIsRateLimited(err) {
						checked++
					}
				}
				e.clock.Add(500 * time.Millisecond)
			}
			t.Logf("%s: %d guesses checked in 10 minutes from %d addresses", email, checked, next)
			assert.LessOrEqual(t, checked, 600/5+10+3, "one guess per MaxAccountDelay, the burst, the free failures")
		})
	}
}

func errorsIsRateLimited(err error) bool {
	var rl *RateLimitError
	return errors.As(err, &rl)
}

// TestUnknownUserAuditBudget: failed logins for made-up emails are audited within a budget per
// organization, then only logged; a real user's failures are audited regardless.
func TestUnknownUserAuditBudget(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.UnknownUserAudit = Limit{Every: time.Minute, Burst: 3} })
	org, _ := e.owner(t)
	for i := range 10 {
		_, err := e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: fmt.Sprintf("made-up-%d@acme.test", i), Password: "guess", ClientAddr: rotatingAddr(i)})
		require.ErrorIs(t, err, ErrBadCredentials)
	}
	_, err := attempt(e, "wrong password", "192.0.2.1:1", "")
	require.ErrorIs(t, err, ErrBadCredentials)

	reasons := map[string]int{}
	for _, r := range auditsOf(e.audits(t, org.ID), store.AuditLoginFailed) {
		reasons[r.Details["reason"]]++
	}
	assert.Equal(t, map[string]int{reasonUnknownUser: 3, reasonBadPassword: 1}, reasons)

	e.clock.Add(time.Minute)
	_, err = e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: "made-up-x@acme.test", Password: "guess", ClientAddr: "192.0.2.9:1"})
	require.ErrorIs(t, err, ErrBadCredentials)
	assert.Len(t, auditsOf(e.audits(t, org.ID), store.AuditLoginFailed), 5, "the budget refills")
}

// TestAuthenticatorCodeSkipsTheAccountSlowdown: while a flood from rotating addresses slows
// the account, its user signs in at once from a fresh address with the password and a
// current authenticator code. A wrong code, or the right code with a wrong password, gets
// the same slowdown as no code (the answer tells nothing), and a client's own lock still
// holds.
func TestAuthenticatorCodeSkipsTheAccountSlowdown(t *testing.T) {
	e := newEnv(t, nil)
	_, owner := e.owner(t)
	secret, _ := e.enroll(t, owner)
	login := func(password, code, addr string) error {
		_, err := e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: "owner@acme.test", Password: password,
			TOTP: code, ClientAddr: addr})
		return err
	}
	// flood guesses once a second, each from a fresh address, until one is checked (and
	// fails): the account is then slowed for the next few seconds.
	next := 0
	flood := func() {
		t.Helper()
		for ; ; next++ {
			e.clock.Add(time.Second)
			if err := login(fmt.Sprintf("guess %d", next), "", rotatingAddr(next)); errors.Is(err, ErrBadCredentials) {
				next++
				return
			}
		}
	}
	slowed := func(err error) bool {
		var rl *RateLimitError
		return errors.As(err, &rl) && rl.Account
	}
	e.clock.Add(30 * time.Second) // past the step enrolling used (a code works once)
	for range 8 {
		flood()
	}
	code := authenticator(t, secret, e.clock.Now())
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000)
	for _, tc := range []struct {
		name, password, code string
		addr                 string
	}{
		{"no code", ownerPassword, "", "203.0.113.50:1"},
		{"a wrong code", ownerPassword, wrong, "203.0.113.51:1"},
		{"a recovery-code-like string", ownerPassword, "abcd-efgh", "203.0.113.52:1"},
	} {
		err := login(tc.password, tc.code, tc.addr)
		assert.True(t, slowed(err), "%s: the account's slowdown, as without a code (%v)", tc.name, err)
	}
	err := login("guess again", code, "203.0.113.53:1")
	require.ErrorIs(t, err, ErrBadCredentials, "a right code with a wrong password is still a wrong password")
	flood()
	require.NoError(t, login(ownerPassword, authenticator(t, secret, e.clock.Now()), "203.0.113.54:1"),
		"the password and a current code: straight in")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	require.NoError(t, err)
	return n
}
