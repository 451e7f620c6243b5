package accounts

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// authenticator plays the user's TOTP app.
func authenticator(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	c, err := totpCode(secret, totpStep(now))
	require.NoError(t, err)
	return c
}

func loginMFA(e *env, totpCode, recovery string) (Tokens, error) {
	return e.svc.Login(context.Background(), LoginRequest{Org: "acme", Email: "owner@acme.test", Password: ownerPassword, TOTP: totpCode, RecoveryCode: recovery, ClientAddr: "192.0.2.1"})
}

func TestTOTPLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)

	secret, url, err := e.svc.BeginTOTP(ctx, owner)
	require.NoError(t, err)
	assert.Contains(t, url, "otpauth://totp/kvmrelay:owner@acme.test?")
	assert.Contains(t, url, "secret="+secret)
	_, err = login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err, "MFA is off until confirmed")

	_, err = e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret, e.clock.Now().Add(5*time.Minute)))
	require.ErrorIs(t, err, ErrInvalid, "a wrong code does not confirm")
	codes, err := e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret, e.clock.Now()))
	require.NoError(t, err)
	require.Len(t, codes, 10)
	u := e.user(t, org.ID, owner.ID)
	assert.True(t, u.TOTPConfirmed)
	assert.Equal(t, totpStep(e.clock.Now()), u.TOTPLastStep)
	_, _, err = e.svc.BeginTOTP(ctx, owner)
	assert.ErrorIs(t, err, ErrInvalid, "no silent re-enrollment while on")

	// Password alone is no longer enough.
	_, err = loginMFA(e, "", "")
	require.ErrorIs(t, err, ErrMFARequired)
	// The code that confirmed enrollment was used: it cannot log in.
	_, err = loginMFA(e, authenticator(t, secret, e.clock.Now()), "")
	require.ErrorIs(t, err, ErrBadCredentials, "replay of the confirming code")

	e.clock.Add(30 * time.Second)
	code := authenticator(t, secret, e.clock.Now())
	_, err = loginMFA(e, code, "")
	require.NoError(t, err)
	_, err = loginMFA(e, code, "")
	require.ErrorIs(t, err, ErrBadCredentials, "a code is single use within its window")
	e.clock.Add(10 * time.Second)
	_, err = loginMFA(e, code, "")
	require.ErrorIs(t, err, ErrBadCredentials, "still single use a step later (skew)")

	// Recovery codes: any case and dashes, single use.
	e.clock.Add(10 * time.Minute) // past the lockout of the failures above
	_, err = loginMFA(e, "", "  "+codes[3]+" ")
	require.NoError(t, err)
	e.clock.Add(10 * time.Minute)
	_, err = loginMFA(e, "", codes[3])
	require.ErrorIs(t, err, ErrBadCredentials, "recovery codes are single use")
	e.clock.Add(10 * time.Minute)
	_, err = loginMFA(e, "", "abcde-fgh12")
	require.ErrorIs(t, err, ErrBadCredentials)

	// Disable with a recovery code (lost phone), then password alone works again.
	e.clock.Add(10 * time.Minute)
	require.ErrorIs(t, e.svc.DisableTOTP(ctx, owner, "123"), ErrInvalid)
	require.NoError(t, e.svc.DisableTOTP(ctx, owner, codes[5]))
	u = e.user(t, org.ID, owner.ID)
	assert.False(t, u.TOTPConfirmed)
	assert.Empty(t, u.TOTPSecret)
	e.clock.Add(10 * time.Minute)
	_, err = login(e, "owner@acme.test", ownerPassword)
	require.NoError(t, err)

	// Enable again: old recovery codes are gone; disable with a TOTP code.
	secret2, _, err := e.svc.BeginTOTP(ctx, owner)
	require.NoError(t, err)
	assert.NotEqual(t, secret, secret2)
	e.clock.Add(30 * time.Second)
	codes2, err := e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret2, e.clock.Now()))
	require.NoError(t, err)
	_, err = loginMFA(e, "", codes[7])
	require.ErrorIs(t, err, ErrBadCredentials, "codes of the old enrollment")
	e.clock.Add(30 * time.Second)
	require.NoError(t, e.svc.DisableTOTP(ctx, owner, authenticator(t, secret2, e.clock.Now())))
	e.clock.Add(10 * time.Minute)
	require.ErrorIs(t, e.svc.DisableTOTP(ctx, owner, codes2[0]), ErrInvalid, "already off")

	changes := auditsOf(e.audits(t, org.ID), store.AuditMFAChange)
	var kinds []string
	for _, c := range changes {
		kinds = append(kinds, c.Details["change"]+"/"+c.Details["method"])
		assert.Equal(t, owner.String(), c.Actor)
	}
	assert.Equal(t, []string{
		"totp_enrollment_started/", "totp_enabled/", "totp_disabled/recovery_code",
		"totp_enrollment_started/", "totp_enabled/", "totp_disabled/totp",
	}, kinds)
	var methods []string
	for _, l := range auditsOf(e.audits(t, org.ID), store.AuditLogin) {
		methods = append(methods, l.Details["method"])
	}
	assert.Contains(t, methods, "password+totp")
	assert.Contains(t, methods, "password+recovery_code")
}

func TestTOTPOnlyForUsers(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, _ := e.owner(t)
	for _, p := range []Principal{
		{OrgID: org.ID, Kind: KindAPIKey, ID: store.NewID(), Role: store.RoleOwner},
		{OrgID: org.ID, Kind: KindOIDC, ID: "sub", Role: store.RoleOwner},
	} {
		_, _, err := e.svc.BeginTOTP(ctx, p)
		assert.ErrorIs(t, err, ErrForbidden)
		_, err = e.svc.ConfirmTOTP(ctx, p, "123456")
		assert.ErrorIs(t, err, ErrForbidden)
		assert.ErrorIs(t, e.svc.DisableTOTP(ctx, p, "123456"), ErrForbidden)
	}
}

// TestTOTPConfirmRateLimited: guessing the 6 digits of a session's own enrollment is bounded.
func TestTOTPConfirmRateLimited(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.MFAPerAccount = Limit{Every: time.Minute, Burst: 2} })
	ctx := context.Background()
	_, owner := e.owner(t)
	secret, _, err := e.svc.BeginTOTP(ctx, owner)
	require.NoError(t, err)
	wrong := authenticator(t, secret, e.clock.Now().Add(time.Hour))
	for range 2 {
		_, err := e.svc.ConfirmTOTP(ctx, owner, wrong)
		require.ErrorIs(t, err, ErrInvalid)
	}
	_, err = e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret, e.clock.Now()))
	require.ErrorIs(t, err, ErrRateLimited, "even the right code waits")
	e.clock.Add(time.Minute)
	_, err = e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret, e.clock.Now()))
	require.NoError(t, err)
}

// TestTOTPConcurrentReplay: one code presented by several logins at once logs in exactly once.
func TestTOTPConcurrentReplay(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FreeFailures = 100 })
	ctx := context.Background()
	_, owner := e.owner(t)
	secret, _, err := e.svc.BeginTOTP(ctx, owner)
	require.NoError(t, err)
	_, err = e.svc.ConfirmTOTP(ctx, owner, authenticator(t, secret, e.clock.Now()))
	require.NoError(t, err)
	e.clock.Add(30 * time.Second)
	code := authenticator(t, secret, e.clock.Now())

	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := loginMFA(e, code, "")
			errs <- err
		}()
	}
	ok := 0
	for range n {
		err := <-errs
		if err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, ErrBadCredentials)
		}
	}
	assert.Equal(t, 1, ok)
}
