package web

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// The dashboard's own tests, against a fake API; e2e/webui_test.go runs it on a real relay.

// serveDashboard serves the dashboard at / as the relay does, the assets under /console/, and
// the given fake API routes.
func serveDashboard(t *testing.T, api map[string]http.Handler) string {
	t.Helper()
	page, err := fs.ReadFile(Assets(), "dashboard.html")
	require.NoError(t, err)
	routes := map[string]http.Handler{
		"GET /{$}": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", consoleCSP)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		}),
	}
	for k, v := range api {
		routes[k] = v
	}
	return serveConsole(t, routes).URL
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// TestDashboardRolesMatchGo: the dashboard's role matrix (js/dashboard/roles.js) equals the
// one the API enforces (accounts.Principal.Can), so it hides exactly what a role cannot do.
func TestDashboardRolesMatchGo(t *testing.T) {
	url := serveDashboard(t, nil)
	ctx, _ := openBrowser(t)
	navigate(t, ctx, url+"/console/")
	got := eval[map[string]map[string]bool](t, ctx, `import("/console/js/dashboard/roles.js").then((m) => {
		const out = {};
		for (const role of ["owner", "admin", "operator", "viewer", "auditor", "nobody"]) {
			out[role] = {};
			for (const a of m.ACTIONS) out[role][a] = m.can(role, a);
		}
		return out;
	})`)
	roles := []store.Role{store.RoleOwner, store.RoleAdmin, store.RoleOperator, store.RoleViewer, store.RoleAuditor, "nobody"}
	for _, role := range roles {
		want := map[string]bool{}
		for _, a := range accounts.Actions() {
			want[a.String()] = accounts.Principal{Role: role}.Can(a)
		}
		assert.Equal(t, want, got[string(role)], "role %s", role)
	}
}

// fakeAuth is the auth API of an account with TOTP on: the first attempt is rate limited, the
// password alone asks for the code, the right code signs in. It records what the page sent.
type fakeAuth struct {
	mu      sync.Mutex
	logins  []map[string]string
	headers []string
}

func (f *fakeAuth) login(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.logins = append(f.logins, body)
	f.headers = append(f.headers, r.Header.Get("X-Kvmrelay-Client"))
	n := len(f.logins)
	f.mu.Unlock()
	switch {
	case n == 1:
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"code": "rate-limited", "message": "Too many attempts; wait 2s and try again."})
	case body["totp"] == "" && body["recovery_code"] == "":
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "mfa-required", "message": "Enter the code from your authenticator app (or a recovery code)."})
	case body["totp"] != "123456":
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "Organization, email or password (or the one-time code) is wrong."})
	default:
		http.SetCookie(w, &http.Cookie{Name: "kvmrelay_refresh", Value: "secret", Path: "/api/v1/auth", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		writeJSON(w, http.StatusOK, map[string]string{"token_type": "Bearer", "access_token": "access-1",
			"access_expires_at": time.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)})
	}
}

// TestDashboardSignInMFA: a rate limit is shown as one, with the button held until the wait is
// over; the password step then leads to the code step when the API asks for it; a wrong code
// says so; the right one signs in (in cookie mode: the client header on every auth call) and an
// empty device list tells an owner how to add one.
func TestDashboardSignInMFA(t *testing.T) {
	f := &fakeAuth{}
	bearer := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer access-1" {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "no"})
				return
			}
			h(w, r)
		})
	}
	url := serveDashboard(t, map[string]http.Handler{
		"POST /api/v1/auth/login": http.HandlerFunc(f.login),
		"GET /api/v1/me": bearer(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"org_slug": "acme", "email": "ann@acme.example", "role": "owner", "kind": "user", "id": "u1"})
		}),
		"GET /api/v1/devices": bearer(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"devices": []any{}})
		}),
	})
	ctx, log := openBrowser(t)
	navigateUntil(t, ctx, url+"/", `document.body.dataset.view === "signin"`)

	signInAsAnn(t, ctx)
	waitJS(t, ctx, `document.getElementById("signin-error").dataset.kind === "wait"`, 10*time.Second)
	msg := eval[string](t, ctx, `document.getElementById("signin-error").textContent`)
	assert.Contains(t, msg, "Too many sign-in attempts")
	assert.Contains(t, msg, "wait 2s")
	assert.True(t, eval[bool](t, ctx, `document.getElementById("signin-submit").disabled`), "held during the wait")
	waitJS(t, ctx, `!document.getElementById("signin-submit").disabled`, 10*time.Second)

	do(t, ctx, chromedp.Click(chromedp.ID("signin-submit")))
	waitJS(t, ctx, `!document.getElementById("signin-mfa-step").hidden && document.getElementById("signin-password-step").hidden`, 10*time.Second)
	do(t, ctx, chromedp.SendKeys(chromedp.ID("signin-code"), "000000"), chromedp.Click(chromedp.ID("signin-submit")))
	waitJS(t, ctx, `document.getElementById("signin-error").textContent.includes("wrong")`, 10*time.Second)
	eval[string](t, ctx, `document.getElementById("signin-code").value = ""`)
	do(t, ctx, chromedp.SendKeys(chromedp.ID("signin-code"), "123456"), chromedp.Click(chromedp.ID("signin-submit")))
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 10*time.Second)
	empty := eval[string](t, ctx, `document.getElementById("devices-message").textContent`)
	assert.Contains(t, empty, "kvmctl devices create")
	screenshot(t, ctx, "/tmp/web-dashboard-empty.png")

	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.logins, 4)
	assert.Equal(t, "123456", f.logins[3]["totp"])
	assert.Equal(t, "correct horse battery staple", f.logins[3]["password"], "the code goes with the password")
	for i, h := range f.headers {
		assert.Equal(t, "web", h, "login %d in cookie mode", i)
	}
	for _, code := range []string{"429", "401"} {
		log.drop(code)
	}
	for _, p := range log.list() {
		if !strings.Contains(p, "Failed to load resource") {
			t.Errorf("page problem: %s", p)
		}
	}
}

// TestDashboardSignInAccountSlowed: wrong passwords from elsewhere slow the account down
// (429 account-slowed); the page says so and offers the code step at once, and the password
// with a current authenticator code signs in without waiting.
func TestDashboardSignInAccountSlowed(t *testing.T) {
	var mu sync.Mutex
	var logins []map[string]string
	url := serveDashboard(t, map[string]http.Handler{
		"POST /api/v1/auth/login": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]string
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			logins = append(logins, body)
			mu.Unlock()
			if body["totp"] != "123456" {
				w.Header().Set("Retry-After", "5")
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"code": "account-slowed", "message": "Many wrong passwords were tried at this account from elsewhere, so it is slowed down: wait 5s, or, if your account has two-factor authentication, sign in now with the code from your authenticator app."})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"token_type": "Bearer", "access_token": "access-1",
				"access_expires_at": time.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)})
		}),
		"GET /api/v1/me": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"org_slug": "acme", "email": "ann@acme.example", "role": "owner", "kind": "user", "id": "u1"})
		}),
		"GET /api/v1/devices": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"devices": []any{}})
		}),
	})
	ctx, _ := openBrowser(t)
	navigateUntil(t, ctx, url+"/", `document.body.dataset.view === "signin"`)
	signInAsAnn(t, ctx)
	waitJS(t, ctx, `!document.getElementById("signin-mfa-step").hidden`, 10*time.Second)
	assert.Contains(t, eval[string](t, ctx, `document.getElementById("signin-error").textContent`), "slowed down")
	assert.False(t, eval[bool](t, ctx, `document.getElementById("signin-submit").disabled`), "the code can be sent at once")
	do(t, ctx, chromedp.SendKeys(chromedp.ID("signin-code"), "123456"), chromedp.Click(chromedp.ID("signin-submit")))
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 10*time.Second)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, logins, 2)
	assert.Equal(t, "correct horse battery staple", logins[1]["password"], "the code goes with the password")
	assert.Equal(t, "123456", logins[1]["totp"])
}

// signInAsAnn fills the sign-in form as ann@acme.example and submits it.
func signInAsAnn(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("signin-org"), "acme"),
		chromedp.SendKeys(chromedp.ID("signin-email"), "ann@acme.example"),
		chromedp.SendKeys(chromedp.ID("signin-password"), "correct horse battery staple"),
		chromedp.Click(chromedp.ID("signin-submit")),
	)
}
