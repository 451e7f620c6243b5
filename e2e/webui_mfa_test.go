package e2e

import (
	"bytes"
	"context"
	"image"
	_ "image/png" // screenshots
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	goqr "github.com/piglig/go-qr"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// authenticatorCode plays the user's authenticator app. A code one step ahead is used: the
// relay accepts a step of clock skew, and the step that confirmed enrollment is spent.
func authenticatorCode(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	require.NoError(t, err)
	return c
}

// enrollInDashboard sets up TOTP on the account page, as a person with a phone would: the QR
// code shown in the page is read by a QR decoder, the code computed from its secret is typed,
// and the recovery codes are shown once. It returns the secret and the recovery codes.
func enrollInDashboard(t *testing.T, ctx context.Context, email string) (string, []string) {
	t.Helper()
	waitJS(t, ctx, `document.body.dataset.view === "account"`, 15*time.Second, "the account page")
	status, err := js[string](ctx, `document.getElementById("mfa-status").textContent`)
	require.NoError(t, err)
	assert.Equal(t, "Off", status)
	click(t, ctx, "#mfa-begin")
	waitJS(t, ctx, `(() => { const i = document.getElementById("mfa-qr"); return i.checkVisibility() && i.complete && i.naturalWidth > 0; })()`,
		15*time.Second, "the QR code drawn in the page")

	// What the phone's camera sees: the QR code as Chromium painted it, decoded.
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#mfa-qr"), chromedp.NodeVisible))
	require.NoError(t, err)
	img, _, err := image.Decode(bytes.NewReader(png))
	require.NoError(t, err)
	uri, err := goqr.Decode(img)
	require.NoError(t, err, "the QR code in the page decodes")
	u, err := url.Parse(uri)
	require.NoError(t, err)
	assert.Equal(t, "otpauth", u.Scheme)
	assert.Equal(t, "totp", u.Host)
	assert.Equal(t, "/kvmrelay:"+email, u.Path)
	secret := u.Query().Get("secret")
	shown, err := js[string](ctx, `document.getElementById("mfa-secret").textContent.replace(/\s+/g, "")`)
	require.NoError(t, err)
	assert.Equal(t, secret, shown, "the key for typing in by hand is the QR code's")
	shot(t, ctx, "enroll")

	fill(t, ctx, "#mfa-code", "000000")
	click(t, ctx, "#mfa-confirm")
	waitJS(t, ctx, `!document.getElementById("mfa-enroll-error").hidden`, 10*time.Second, "a wrong code refused")

	code, err := totp.GenerateCode(secret, time.Now())
	require.NoError(t, err)
	fill(t, ctx, "#mfa-code", code)
	click(t, ctx, "#mfa-confirm")
	waitJS(t, ctx, `!document.getElementById("mfa-codes").hidden`, 10*time.Second, "the recovery codes")
	codes, err := js[[]string](ctx, `[...document.querySelectorAll("#mfa-code-list li")].map((li) => li.textContent)`)
	require.NoError(t, err)
	require.Len(t, codes, 10)
	status, err = js[string](ctx, `document.getElementById("mfa-status").textContent`)
	require.NoError(t, err)
	assert.Equal(t, "On", status)
	shot(t, ctx, "recovery-codes")
	// Shown once: put away, they are gone from the page.
	click(t, ctx, "#mfa-codes-done")
	waitJS(t, ctx, `document.getElementById("mfa-codes").hidden && document.querySelectorAll("#mfa-code-list li").length === 0`,
		10*time.Second, "the recovery codes put away")
	return secret, codes
}

// signInWithCode signs in with password and a TOTP code and waits for the device list.
func signInWithCode(t *testing.T, ctx context.Context, org, email, password, secret string) {
	t.Helper()
	waitJS(t, ctx, `document.body.dataset.view === "signin"`, 15*time.Second, "the sign-in form")
	fill(t, ctx, "#signin-org", org)
	fill(t, ctx, "#signin-email", email)
	fill(t, ctx, "#signin-password", password)
	click(t, ctx, "#signin-submit")
	waitJS(t, ctx, `!document.getElementById("signin-mfa-step").hidden`, 15*time.Second, "the code step of the sign-in")
	fill(t, ctx, "#signin-code", authenticatorCode(t, secret))
	click(t, ctx, "#signin-submit")
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 15*time.Second, "the device list after signing in with a code")
}

// TestDashboardMFA: a user changes their password and turns on two-factor authentication on
// the dashboard's account page, signs out, and signs in again with the new password and a
// code; the password alone no longer signs in.
func TestDashboardMFA(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	const newPassword = "a new and longer passphrase"

	ctx := testenv.Chromium(t)
	probeCSP(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	dashboard(t, ctx, s.url+"/", "signin")
	signIn(t, ctx, "acme", acme.email, webPassword)
	click(t, ctx, "#nav-account")

	// The password first: the change ends every session, and the page goes on with the new
	// tokens the relay answered with (the enrollment below needs them).
	waitJS(t, ctx, `document.body.dataset.view === "account"`, 15*time.Second, "the account page")
	fill(t, ctx, "#password-current", webPassword)
	fill(t, ctx, "#password-new", newPassword)
	fill(t, ctx, "#password-repeat", newPassword)
	click(t, ctx, "#password-submit")
	waitJS(t, ctx, `document.getElementById("notice").textContent.startsWith("Password changed")`, 15*time.Second, "the password changed")
	secret, _ := enrollInDashboard(t, ctx, acme.email)

	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := acme.api.Login(ctx2, client.LoginRequest{Org: "acme", Email: acme.email, Password: newPassword})
	require.True(t, client.IsMFARequired(err), "the password alone is not enough any more: %v", err)
	_, err = acme.api.Login(ctx2, client.LoginRequest{Org: "acme", Email: acme.email, Password: webPassword})
	require.Error(t, err)
	assert.False(t, client.IsMFARequired(err), "the old password is wrong, not short of a code")

	signOut(t, ctx)
	signInWithCode(t, ctx, "acme", acme.email, newPassword, secret)
	click(t, ctx, "#nav-account")
	waitJS(t, ctx, `document.getElementById("mfa-status").textContent === "On" && !document.getElementById("mfa-on").hidden`,
		10*time.Second, "two-factor authentication shown on")
	shot(t, ctx, "account-on")

	violations, err := js[[]string](ctx, `window.__cspViolations ?? []`)
	require.NoError(t, err)
	assert.Empty(t, violations)
}

// TestDashboardRequireMFA: an owner (with MFA) requires it of every member on the account
// page; a member without it who signs in is walked to enrollment and can do nothing else until
// done, then reaches the devices.
func TestDashboardRequireMFA(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	ctx2, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inv, err := acme.api.InviteUser(ctx2, client.Invite{Email: "vera@acme.example", Role: "operator"})
	require.NoError(t, err)
	invLink, err := url.Parse(inv.Link)
	require.NoError(t, err)
	acceptInvitation(t, s.url, strings.TrimPrefix(invLink.Fragment, "invite="), webPassword)
	// The owner has MFA already (kvmctl mfa enable does this).
	en, err := acme.api.BeginTOTP(ctx2)
	require.NoError(t, err)
	now, err := totp.GenerateCode(en.Secret, time.Now())
	require.NoError(t, err)
	_, err = acme.api.ConfirmTOTP(ctx2, now)
	require.NoError(t, err)

	ctx := testenv.Chromium(t)
	probeCSP(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	dashboard(t, ctx, s.url+"/", "signin")
	signInWithCode(t, ctx, "acme", acme.email, webPassword, en.Secret)
	click(t, ctx, "#nav-account")
	waitJS(t, ctx, `!document.getElementById("org-card").hidden`, 10*time.Second, "the organization's settings for the owner")
	click(t, ctx, "#org-require-mfa")
	waitJS(t, ctx, `document.getElementById("notice").textContent.includes("Every member now needs two-factor authentication")`,
		10*time.Second, "the requirement saved")
	page, err := acme.api.Audit(ctx2, 0, 1000)
	require.NoError(t, err)
	last := page.Entries[len(page.Entries)-1]
	assert.Equal(t, "settings_change", string(last.Action))
	assert.Contains(t, string(last.Details), `"require_mfa":"true"`)
	signOut(t, ctx)

	// The member signs in with the password and lands on enrollment.
	fill(t, ctx, "#signin-org", "acme")
	fill(t, ctx, "#signin-email", "vera@acme.example")
	fill(t, ctx, "#signin-password", webPassword)
	click(t, ctx, "#signin-submit")
	waitJS(t, ctx, `document.body.dataset.view === "account"`, 15*time.Second, "the member walked to the account page")
	state, err := js[map[string]any](ctx, `({
		required: document.getElementById("account-required").checkVisibility(),
		devicesDisabled: document.getElementById("nav-devices").disabled,
		org: document.getElementById("org-card").hidden,
	})`)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"required": true, "devicesDisabled": true, "org": true}, state)
	shot(t, ctx, "required")
	enrollInDashboard(t, ctx, "vera@acme.example")
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 15*time.Second, "the devices once the codes are put away")
	disabled, err := js[bool](ctx, `document.getElementById("nav-devices").disabled`)
	require.NoError(t, err)
	assert.False(t, disabled)

	violations, err := js[[]string](ctx, `window.__cspViolations ?? []`)
	require.NoError(t, err)
	assert.Empty(t, violations)
}
