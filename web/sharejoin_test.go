package web

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dashboard's side of share links: a colleague's link (/#share=…) joined after signing in,
// and the owner's Guest links switch. Against a fake API.

// fakeAccount is the sign-in API of ann@acme.example (password only) with the given role, and
// records the calls the page makes with its access token.
type fakeAccount struct {
	role string

	mu    sync.Mutex
	calls []shareCall
}

func (f *fakeAccount) routes() map[string]http.Handler {
	token := func(w http.ResponseWriter) {
		writeJSON(w, http.StatusOK, map[string]string{"token_type": "Bearer", "access_token": "access-1",
			"access_expires_at": time.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)})
	}
	return map[string]http.Handler{
		"POST /api/v1/auth/login": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]string
			_ = json.NewDecoder(r.Body).Decode(&body)
			if body["password"] != "correct horse battery staple" {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "Organization, email or password is wrong."})
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "kvmrelay_refresh", Value: "secret", Path: "/api/v1/auth", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			token(w)
		}),
		"POST /api/v1/auth/refresh": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := r.Cookie("kvmrelay_refresh"); err != nil {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "Sign in again."})
				return
			}
			token(w)
		}),
		"GET /api/v1/me": f.bearer(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"org_slug": "acme", "email": "ann@acme.example", "role": f.role, "kind": "user", "id": "u1"})
		}),
		"GET /api/v1/devices": f.bearer(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"devices": []any{}})
		}),
	}
}

// bearer answers only calls with the access token, and records them.
func (f *fakeAccount) bearer(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.ContentLength != 0 {
			_ = json.NewDecoder(r.Body).Decode(&body)
		}
		f.mu.Lock()
		f.calls = append(f.calls, shareCall{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body})
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer access-1" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "Sign in first."})
			return
		}
		r.Body = http.NoBody
		h(w, r)
	})
}

// callsTo lists the recorded calls of a method and path.
func (f *fakeAccount) callsTo(method, path string) []shareCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []shareCall
	for _, c := range f.calls {
		if c.Method == method && c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// waitAfterNavigation waits until js is true on a page that is navigating elsewhere: a poll
// that a navigation interrupts is tried again on the next page.
func waitAfterNavigation(t *testing.T, ctx context.Context, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](`document.readyState === "complete" && !!(`+js+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", js, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDashboardShareJoin: a colleague's share link opened on the console page lands on the
// dashboard, which asks for the sign-in first and keeps the link through it (and through a
// reload of the form), then joins the share and goes to the console link the API answered.
// Links that cannot work say why and what to do.
func TestDashboardShareJoin(t *testing.T) {
	acct := &fakeAccount{role: "auditor"} // any member may watch a console shared with them
	var mu sync.Mutex
	var redeemed []string
	busy := 0
	routes := acct.routes()
	routes["POST /api/v1/shares/join"] = acct.bearer(func(w http.ResponseWriter, r *http.Request) {
		calls := acct.callsTo("POST", "/api/v1/shares/join")
		token, _ := calls[len(calls)-1].Body["token"].(string)
		mu.Lock()
		defer mu.Unlock()
		switch token {
		case "stok":
			writeJSON(w, http.StatusCreated, map[string]any{"console_url": "https://kvm.example.com/console/#code=c0de", "session": "s_new", "device": "d_1",
				"device_name": "lab-01", "shared_by": "Alice Moreau", "grant": "view"})
		case "sbusy":
			busy++
			if busy == 1 {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"code": "unavailable", "message": "The relay is busy; try again in a moment."})
				return
			}
			writeJSON(w, http.StatusCreated, map[string]any{"console_url": "https://kvm.example.com/console/#code=c0de2", "session": "s_new2", "device_name": "lab-01", "grant": "view"})
		case "sgone":
			writeJSON(w, http.StatusGone, map[string]any{"code": "gone", "message": "This share link was revoked.", "shared_by": "Alice Moreau"})
		case "sended":
			writeJSON(w, http.StatusGone, map[string]any{"code": "gone", "message": "The shared session ended."})
		case "sstale":
			writeJSON(w, http.StatusGone, map[string]any{"code": "gone", "message": "This share link no longer works: the guest link expired. Ask Bob Chen for a new link."})
		case "sforeign":
			writeJSON(w, http.StatusNotFound, map[string]any{"code": "not-found",
				"message": "This share link is unknown here: check that it was copied whole, and that you are signed in to the organization that shared it."})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"code": "not-found", "message": "This share link is not known."})
		}
	})
	routes["POST /api/v1/console/redeem"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		redeemed = append(redeemed, body["code"])
		mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "no"})
	})
	url := serveDashboard(t, routes)
	ctx, log := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 720))

	t.Run("sign in first, the link kept", func(t *testing.T) {
		navigateUntil(t, ctx, url+"/console/#share=stok", `document.body.dataset.view === "signin"`)
		assert.Equal(t, "Sign in to open the console shared with you (view only).", text(t, ctx, "signin-error"))
		assert.Empty(t, eval[string](t, ctx, `location.hash`), "the token leaves the address bar")
		// A reload of the form keeps the link.
		navigateUntil(t, ctx, url+"/", `document.body.dataset.view === "signin"`)
		assert.Equal(t, "Sign in to open the console shared with you (view only).", text(t, ctx, "signin-error"))
		sharedShot(t, ctx, "share-signin")

		signInAsAnn(t, ctx)
		waitAfterNavigation(t, ctx, `location.pathname === "/console/" && window.kvm?.state === "failed"`, 10*time.Second)
		joins := acct.callsTo("POST", "/api/v1/shares/join")
		require.Len(t, joins, 1)
		assert.Equal(t, map[string]any{"token": "stok"}, joins[0].Body)
		assert.Equal(t, "Bearer access-1", joins[0].Auth)
		mu.Lock()
		assert.Equal(t, []string{"c0de"}, redeemed, "the console page of this relay redeemed the code the join answered")
		mu.Unlock()
		assert.True(t, eval[bool](t, ctx, `sessionStorage.getItem("kvmrelay.dashboard.share") === null`), "a used link is not kept")
		assert.Empty(t, acct.callsTo("GET", "/api/v1/devices"), "straight to the console, not the device list")
	})

	t.Run("signed in already", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(url+"/#share=stok"))
		waitAfterNavigation(t, ctx, `location.pathname === "/console/" && window.kvm?.state === "failed"`, 10*time.Second)
		mu.Lock()
		assert.Equal(t, []string{"c0de", "c0de"}, redeemed)
		mu.Unlock()
	})

	for _, tc := range []struct {
		token, want           string
		retry, devices, other bool
	}{
		{"sgone", "This share link was revoked. Ask Alice Moreau for a new link.", false, true, false},
		{"sended", "The shared session ended. Ask the person who shared it for a new link.", false, true, false},
		{"sstale", "This share link no longer works: the guest link expired. Ask Bob Chen for a new link.", false, true, false},
		{"snope", "This share link is not known. Ask the person who shared it for a new link. You are signed in to acme.", false, true, true},
		{"sforeign", "This share link is unknown here: check that it was copied whole, and that you are signed in to the organization that shared it. You are signed in to acme.", false, true, true},
		{"sbusy", "The relay is busy; try again in a moment.", true, true, false},
	} {
		t.Run("refused "+tc.token, func(t *testing.T) {
			navigateUntil(t, ctx, url+"/?case="+tc.token+"#share="+tc.token, `document.body.dataset.view === "share" && !document.getElementById("share-error").hidden`)
			assert.Equal(t, tc.want, text(t, ctx, "share-error"))
			assert.Equal(t, "Could not open the shared console", text(t, ctx, "share-title"))
			assert.False(t, visible(t, ctx, "share-spinner"))
			assert.Equal(t, tc.retry, visible(t, ctx, "share-retry"), "Try again")
			assert.Equal(t, tc.devices, visible(t, ctx, "share-devices"), "Go to your devices")
			assert.Equal(t, tc.other, visible(t, ctx, "share-other"), "Sign in as someone else")
			sharedShot(t, ctx, "share-"+tc.token)
		})
	}

	t.Run("try again", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("share-retry").click()`)
		waitAfterNavigation(t, ctx, `location.pathname === "/console/"`, 10*time.Second)
		waitFor(t, "the second redeem", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(redeemed) == 3
		})
		mu.Lock()
		assert.Equal(t, "c0de2", redeemed[2])
		mu.Unlock()
	})

	t.Run("to the devices", func(t *testing.T) {
		navigateUntil(t, ctx, url+"/?again#share=sgone", `document.body.dataset.view === "share" && !document.getElementById("share-error").hidden`)
		eval[chromedp.Void](t, ctx, `document.getElementById("share-devices").click()`)
		waitJS(t, ctx, `document.body.dataset.view === "devices"`, 5*time.Second)
	})

	t.Run("sign in as someone else", func(t *testing.T) {
		navigateUntil(t, ctx, url+"/?other#share=snope", `document.body.dataset.view === "share" && !document.getElementById("share-error").hidden`)
		eval[chromedp.Void](t, ctx, `document.getElementById("share-other").click()`)
		waitJS(t, ctx, `document.body.dataset.view === "signin"`, 5*time.Second)
		assert.Equal(t, "Sign in to the organization that shared the console with you.", text(t, ctx, "signin-error"))
		assert.Equal(t, "snope", eval[string](t, ctx, `sessionStorage.getItem("kvmrelay.dashboard.share")`), "the link waits for the other sign-in")
	})

	for _, code := range []string{"401", "404", "410", "503"} {
		log.drop(code)
	}
	log.drop("favicon")
	checkClean(t, ctx, log)
}

// TestDashboardGuestLinksSetting: an owner turns guest links on in the organization's settings
// (PATCH guest_links alone), and a refusal puts the switch back and says why.
func TestDashboardGuestLinksSetting(t *testing.T) {
	acct := &fakeAccount{role: "owner"}
	var mu sync.Mutex
	org := map[string]any{"id": "o_1", "name": "Acme", "slug": "acme", "require_mfa": false, "guest_links": false, "idle_timeout_s": 900, "max_session_s": 28800}
	refuse := false
	routes := acct.routes()
	routes["GET /api/v1/org"] = acct.bearer(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, http.StatusOK, org)
	})
	routes["PATCH /api/v1/org/settings"] = acct.bearer(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			writeJSON(w, http.StatusForbidden, map[string]string{"code": "forbidden", "message": "Only an owner can change the organization's settings."})
			return
		}
		calls := acct.callsTo("PATCH", "/api/v1/org/settings")
		for k, v := range calls[len(calls)-1].Body {
			org[k] = v
		}
		writeJSON(w, http.StatusOK, org)
	})
	url := serveDashboard(t, routes)
	ctx, log := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	navigateUntil(t, ctx, url+"/", `document.body.dataset.view === "signin"`)
	signInAsAnn(t, ctx)
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 10*time.Second)
	eval[chromedp.Void](t, ctx, `document.getElementById("nav-account").click()`)
	waitJS(t, ctx, `!document.getElementById("org-card").hidden && !document.getElementById("org-guest-links").disabled`, 10*time.Second)

	assert.False(t, eval[bool](t, ctx, `document.getElementById("org-guest-links").checked`), "off by default")
	label := eval[string](t, ctx, `document.getElementById("org-guest-links").closest("label").innerText`)
	assert.Contains(t, label, "Guest links")
	assert.Contains(t, label, "Let console participants create time-limited, view-only links for people without an account. Off by default.")

	click(t, ctx, "org-guest-links")
	waitJS(t, ctx, `document.getElementById("notice").textContent.startsWith("Guest links are on")`, 5*time.Second)
	patches := acct.callsTo("PATCH", "/api/v1/org/settings")
	require.Len(t, patches, 1)
	assert.Equal(t, map[string]any{"guest_links": true}, patches[0].Body, "only the setting that changed")
	assert.True(t, eval[bool](t, ctx, `document.getElementById("org-guest-links").checked`))
	assert.False(t, eval[bool](t, ctx, `document.getElementById("org-require-mfa").checked`), "the other switch stays")
	sharedShot(t, ctx, "org-guest-links")

	mu.Lock()
	refuse = true
	mu.Unlock()
	click(t, ctx, "org-guest-links")
	waitJS(t, ctx, `!document.getElementById("org-error").hidden`, 5*time.Second)
	assert.Equal(t, "Only an owner can change the organization's settings.", text(t, ctx, "org-error"))
	assert.True(t, eval[bool](t, ctx, `document.getElementById("org-guest-links").checked`), "back as the relay has it")
	assert.False(t, eval[bool](t, ctx, `document.getElementById("org-guest-links").disabled`))
	require.Len(t, acct.callsTo("PATCH", "/api/v1/org/settings"), 2)

	mu.Lock()
	refuse = false
	mu.Unlock()
	click(t, ctx, "org-require-mfa")
	waitJS(t, ctx, `document.getElementById("notice").textContent.startsWith("Every member now needs")`, 5*time.Second)
	patches = acct.callsTo("PATCH", "/api/v1/org/settings")
	assert.Equal(t, map[string]any{"require_mfa": true}, patches[len(patches)-1].Body)

	log.drop("403")
	log.drop("favicon")
	checkClean(t, ctx, log)
}
