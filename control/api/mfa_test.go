package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/postgres"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// code plays the authenticator app at the test clock's time.
func code(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return c
}

// enrollAPI turns TOTP on for the bearer through the API and returns the secret.
func (e *env) enrollAPI(tok string, clock *testenv.Clock) (string, []string) {
	e.t.Helper()
	var begin totpBegin
	require.Equal(e.t, http.StatusOK, e.do("POST", "/api/v1/me/totp", tok, nil, &begin))
	clock.Add(30 * time.Second)
	var rc recoveryCodes
	require.Equal(e.t, http.StatusOK, e.do("POST", "/api/v1/me/totp/confirm", tok, codeRequest{Code: code(e.t, begin.Secret, clock.Now())}, &rc))
	return begin.Secret, rc.RecoveryCodes
}

func TestTOTPBeginDrawsQRCode(t *testing.T) {
	e := newEnv(t)
	_, owner := e.owner("acme")
	var begin totpBegin
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/me/totp", owner, nil, &begin))
	assert.True(t, strings.HasPrefix(begin.OTPAuthURL, "otpauth://totp/"), begin.OTPAuthURL)
	b64, ok := strings.CutPrefix(begin.QRCode, "data:image/svg+xml;base64,")
	require.True(t, ok, "%.40s", begin.QRCode)
	svg, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(svg), "<svg "), "%.40s", svg)
}

// backends runs fn over each store: embedded SQLite, and PostgreSQL as the unprivileged
// application role under Row-Level Security. mod adjusts the accounts configuration.
func backends(t *testing.T, mod func(*accounts.Config), fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newEnvWith(t, mod)) })
	t.Run("postgres", func(t *testing.T) {
		owner := pg.Get(t).CreateDatabase(t)
		const role, password = "kvmrelay_app_api", "app-secret"
		_, err := postgres.Migrate(context.Background(), owner, postgres.MigrateOptions{AppRole: role, AppPassword: password})
		require.NoError(t, err)
		u, err := url.Parse(owner)
		require.NoError(t, err)
		u.User = url.UserPassword(role, password)
		st, err := postgres.Open(context.Background(), u.String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		fn(t, newEnvOn(t, st, mod))
	})
}

func TestRequireMFAAPI(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	backends(t, func(c *accounts.Config) { c.RefreshGrace, c.Now = -1, clock.Now }, func(t *testing.T, e *env) {
		testRequireMFAAPI(t, e, clock)
	})
}

func testRequireMFAAPI(t *testing.T, e *env, clock *testenv.Clock) {
	_, owner := e.owner("acme")
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", owner, settingsRequest{}, nil))
	member := e.member(owner, "acme", "vera@acme.example", store.RoleOperator, nil)

	// The owner must have MFA before requiring it.
	on := true
	var apiErr Error
	require.Equal(t, http.StatusBadRequest, e.do("PATCH", "/api/v1/org/settings", owner, settingsRequest{RequireMFA: &on}, &apiErr))
	assert.Contains(t, apiErr.Message, "turn on MFA for your own account first")
	ownerSecret, _ := e.enrollAPI(owner, clock)
	var org orgView
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", owner, settingsRequest{RequireMFA: &on}, &org))
	assert.True(t, org.RequireMFA)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/org", owner, nil, &org))
	assert.True(t, org.RequireMFA)
	var page auditList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit?limit=1000", owner, nil, &page))
	last := page.Entries[len(page.Entries)-1]
	assert.Equal(t, store.AuditSettingsChange, last.Action)
	assert.Equal(t, "require_mfa", last.Details["changed"])
	assert.Equal(t, "true", last.Details["require_mfa"])

	// The member's session (from before) is restricted; so is a new login, which says so.
	var tok tokensView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/auth/login", "", loginRequest{Org: "acme", Email: "vera@acme.example", Password: ownerPassword}, &tok))
	assert.True(t, tok.MFAEnrollmentRequired)
	for _, bearer := range []string{member, tok.AccessToken} {
		require.Equal(t, http.StatusForbidden, e.do("GET", "/api/v1/devices", bearer, nil, &apiErr))
		assert.Equal(t, CodeMFAEnrollmentRequired, apiErr.Code)
		assert.Contains(t, apiErr.Message, "kvmctl mfa enable")
	}
	var me meView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/me", member, nil, &me))
	assert.True(t, me.MFAEnrollmentRequired)
	assert.False(t, me.MFAEnabled)

	// Every route but the enrollment ones refuses the restricted session, whatever its role
	// allows, before doing anything.
	a, err := New(Config{Store: e.st, Accounts: e.acc, Sessions: e.mgr, Devices: e.cut})
	require.NoError(t, err)
	id := store.NewID()
	for _, rt := range a.Routes() {
		if rt.Public || rt.Enrollment || rt.Console {
			continue // a console route takes a console token, not the member's bearer
		}
		path := "/api/v1" + strings.NewReplacer(":id", id).Replace(rt.Path)
		var got Error
		assert.Equal(t, http.StatusForbidden, e.do(rt.Method, path, member, map[string]string{}, &got), "%s %s", rt.Method, rt.Path)
		assert.Equal(t, CodeMFAEnrollmentRequired, got.Code, "%s %s", rt.Method, rt.Path)
	}

	// Enrolling lifts the restriction at once, on the same token.
	secret, codes := e.enrollAPI(member, clock)
	require.Len(t, codes, 10)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices", member, nil, nil))
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/me", member, nil, &me))
	assert.False(t, me.MFAEnrollmentRequired)
	assert.True(t, me.MFAEnabled)

	// Recovery codes are regenerated with a current code only.
	require.Equal(t, http.StatusBadRequest, e.do("POST", "/api/v1/me/totp/recovery-codes", member, codeRequest{Code: codes[0]}, &apiErr))
	clock.Add(30 * time.Second)
	var fresh recoveryCodes
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/me/totp/recovery-codes", member, codeRequest{Code: code(t, secret, clock.Now())}, &fresh))
	require.Len(t, fresh.RecoveryCodes, 10)
	assert.NotEqual(t, codes, fresh.RecoveryCodes)

	// The owner can turn the requirement off; the owner's own login is unaffected throughout.
	clock.Add(30 * time.Second)
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/auth/login", "", loginRequest{Org: "acme", Email: "owner@acme.example", Password: ownerPassword,
		TOTP: code(t, ownerSecret, clock.Now())}, &tok))
	assert.False(t, tok.MFAEnrollmentRequired)
	off := false
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", tok.AccessToken, settingsRequest{RequireMFA: &off}, &org))
	assert.False(t, org.RequireMFA)
}
