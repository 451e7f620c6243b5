package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// The console's share links against a fake of the API in the share-link contract
// (/api/v1/console/shares with the console token as the bearer, /api/v1/guest/join).

// shareCall is one request the page made to the fake share API.
type shareCall struct {
	Method, Path, Auth string
	Body               map[string]any
}

// fakeShares is /api/v1/console/shares of one console session. It accepts only the console
// token the relay accepts now (so the page must use the refreshed one) and records each call.
type fakeShares struct {
	t     *testing.T
	relay *fakeRelay

	mu       sync.Mutex
	base     string           // the public URL links start with
	shares   []map[string]any // in creation order, as the API lists them
	calls    []shareCall
	guestOff bool          // guest links are off for the organization
	hold     chan struct{} // when set, a POST waits until it is closed
}

func (f *fakeShares) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /api/v1/console/shares":          http.HandlerFunc(f.create),
		"GET /api/v1/console/shares":           http.HandlerFunc(f.list),
		"DELETE /api/v1/console/shares/{id}":   http.HandlerFunc(f.revoke),
		"POST /api/v1/sessions/{sid}/shares":   http.NotFoundHandler(), // the page has no API sign-in
		"DELETE /api/v1/sessions/{sid}/shares": http.NotFoundHandler(),
	}
}

// record notes the call and reports whether its bearer is the console token the relay accepts.
func (f *fakeShares) record(w http.ResponseWriter, r *http.Request) bool {
	var body map[string]any
	if r.Body != nil && r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad-request", "message": "The body is not JSON."})
			return false
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, shareCall{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body})
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+f.relay.currentToken() {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "This console token is not valid."})
		return false
	}
	return true
}

func (f *fakeShares) create(w http.ResponseWriter, r *http.Request) {
	if !f.record(w, r) {
		return
	}
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	body := f.calls[len(f.calls)-1].Body
	kind, _ := body["kind"].(string)
	now := time.Now().UTC()
	var expires any
	fragment := "share"
	switch kind {
	case "member":
	case "guest":
		if f.guestOff {
			writeJSON(w, http.StatusForbidden, map[string]string{"code": "forbidden",
				"message": "Guest links are off for this organization; an owner can turn them on in the organization's settings."})
			return
		}
		ttl, _ := body["ttl_seconds"].(float64)
		if ttl < 300 || ttl > 86400 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad-request", "message": "ttl_seconds is out of range."})
			return
		}
		expires = now.Add(time.Duration(ttl) * time.Second).Format(time.RFC3339)
		fragment = "guest"
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad-request", "message": "kind must be member or guest."})
		return
	}
	n := len(f.shares) + 1
	share := map[string]any{
		"id": fmt.Sprintf("sh_%d", n), "kind": kind, "session": testSID, "device": "d_1", "device_name": "lab-01",
		"expires_at": expires, "created_by": "user:u_alice", "created_by_name": "Alice Moreau",
		"created_at": now.Add(time.Duration(n) * time.Second).Format(time.RFC3339), "joined": 0, "revoked_at": nil, "live": true,
	}
	f.shares = append(f.shares, share)
	answer := map[string]any{"link": fmt.Sprintf("%s/console/#%s=token-%d", f.base, fragment, n)}
	for k, v := range share {
		if k != "joined" && k != "revoked_at" && k != "live" {
			answer[k] = v
		}
	}
	writeJSON(w, http.StatusCreated, answer)
}

func (f *fakeShares) list(w http.ResponseWriter, r *http.Request) {
	if !f.record(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"shares": f.shares})
}

func (f *fakeShares) revoke(w http.ResponseWriter, r *http.Request) {
	if !f.record(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.shares {
		if s["id"] == r.PathValue("id") && s["revoked_at"] == nil {
			s["revoked_at"] = time.Now().UTC().Format(time.RFC3339)
			s["live"] = false
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// set changes a field of share n (1-based), as the relay's state would change.
func (f *fakeShares) set(n int, field string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shares[n-1][field] = v
}

func (f *fakeShares) callList() []shareCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]shareCall(nil), f.calls...)
}

// lastCall is the newest call of a method.
func (f *fakeShares) lastCall(t *testing.T, method string) shareCall {
	t.Helper()
	calls := f.callList()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Method == method {
			return calls[i]
		}
	}
	t.Fatalf("the page made no %s call", method)
	return shareCall{}
}

func (f *fakeShares) count(method string) int {
	n := 0
	for _, c := range f.callList() {
		if c.Method == method {
			n++
		}
	}
	return n
}

// grantClipboard lets the page at origin use the clipboard, as a person's browser does for a
// click on a secure page.
func grantClipboard(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: origin,
		})
		require.NoError(t, err, name)
	}
}

// click clicks an element as a person does (a trusted event: the clipboard needs one).
func click(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	do(t, ctx, chromedp.Click(chromedp.ID(id)))
}

// TestConsoleShareDialog: the Share button is offered to the participants who may hold control
// (and before any roster); its dialog makes a colleague's link and a guest link with the
// console token the page holds now, shows progress while the relay works, copies the link
// (or selects it where the browser refuses), shows the API's refusal as its sentence, lists
// the live links and revokes one.
func TestConsoleShareDialog(t *testing.T) {
	shares := &fakeShares{t: t}
	relay, srv := startRelay(t, shares.routes())
	shares.relay = relay
	shares.base = srv.URL
	ctx, log := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
	grantClipboard(t, ctx, srv.URL)
	navigate(t, ctx, srv.URL+"/console/#code="+testCode)
	waitJS(t, ctx, `window.kvm.state === "waiting-agent"`, 10*time.Second)
	bringAgent(t, ctx, srv.URL)

	t.Run("offered before any roster", func(t *testing.T) {
		assert.True(t, visible(t, ctx, "btn-share"), "an agent that does not share: this console controls it")
		mouse(t, ctx, input.DispatchMouseEventTypeMouseMoved, 640, 8, input.MouseButtonNone, 0)
		waitJS(t, ctx, `document.body.classList.contains("toolbar-shown")`, 5*time.Second)
		sharedShot(t, ctx, "share-toolbar")
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-share").click()`)
		waitJS(t, ctx, `document.getElementById("share-dialog").open`, 5*time.Second)
		waitJS(t, ctx, `document.getElementById("share-list-status").textContent.startsWith("No live links")`, 5*time.Second)
		list := shares.lastCall(t, "GET")
		assert.Equal(t, "/api/v1/console/shares", list.Path)
		assert.Equal(t, "Bearer "+refreshedToken, list.Auth, "the token the relay refreshed, not the first one")
	})

	t.Run("a colleague's link", func(t *testing.T) {
		hold := make(chan struct{})
		shares.mu.Lock()
		shares.hold = hold
		shares.mu.Unlock()
		eval[chromedp.Void](t, ctx, `document.getElementById("share-member-create").click()`)
		waitJS(t, ctx, `document.getElementById("share-member-create").disabled`, 5*time.Second)
		assert.Equal(t, "Creating link…", text(t, ctx, "share-member-create"))
		shares.mu.Lock()
		shares.hold = nil
		shares.mu.Unlock()
		close(hold)

		waitJS(t, ctx, `document.getElementById("share-member-out").checkVisibility()`, 5*time.Second)
		assert.Equal(t, srv.URL+"/console/#share=token-1", eval[string](t, ctx, `document.getElementById("share-member-link").value`))
		assert.Equal(t, "Create link", text(t, ctx, "share-member-create"))
		assert.False(t, eval[bool](t, ctx, `document.getElementById("share-member-create").disabled`))
		post := shares.lastCall(t, "POST")
		assert.Equal(t, "/api/v1/console/shares", post.Path)
		assert.Equal(t, "Bearer "+refreshedToken, post.Auth)
		assert.Equal(t, map[string]any{"kind": "member"}, post.Body, "a colleague's link has no ttl")
		waitJS(t, ctx, `document.querySelectorAll("#share-list .share-item").length === 1`, 5*time.Second)
		assert.Contains(t, text(t, ctx, "share-list"), "Until this session ends")
	})

	t.Run("copy", func(t *testing.T) {
		click(t, ctx, "share-member-copy")
		waitJS(t, ctx, `document.getElementById("share-member-status").textContent === "Copied to the clipboard."`, 5*time.Second)
		assert.Equal(t, srv.URL+"/console/#share=token-1", eval[string](t, ctx, `navigator.clipboard.readText()`))

		// A browser that refuses: the link is selected for Ctrl+C.
		eval[chromedp.Void](t, ctx, `Object.defineProperty(navigator.clipboard, "writeText", { value: () => Promise.reject(new DOMException("denied", "NotAllowedError")) })`)
		click(t, ctx, "share-member-copy")
		waitJS(t, ctx, `document.getElementById("share-member-status").textContent.includes("press Ctrl+C")`, 5*time.Second)
		sel := eval[map[string]any](t, ctx, `(() => { const i = document.getElementById("share-member-link");
			return { focused: document.activeElement === i, start: i.selectionStart, end: i.selectionEnd, length: i.value.length }; })()`)
		assert.Equal(t, true, sel["focused"])
		assert.Equal(t, float64(0), sel["start"])
		assert.Equal(t, sel["length"], sel["end"], "the whole link is selected")
	})

	t.Run("guest links off: the API's sentence", func(t *testing.T) {
		shares.mu.Lock()
		shares.guestOff = true
		shares.mu.Unlock()
		do(t, ctx, chromedp.SetValue(chromedp.ID("share-guest-ttl"), "28800"))
		eval[chromedp.Void](t, ctx, `document.getElementById("share-guest-create").click()`)
		waitJS(t, ctx, `document.getElementById("share-guest-error").checkVisibility()`, 5*time.Second)
		assert.Equal(t, "Guest links are off for this organization; an owner can turn them on in the organization's settings.", text(t, ctx, "share-guest-error"))
		assert.False(t, visible(t, ctx, "share-guest-out"))
		assert.Equal(t, map[string]any{"kind": "guest", "ttl_seconds": float64(28800)}, shares.lastCall(t, "POST").Body)
		assert.False(t, eval[bool](t, ctx, `document.getElementById("share-guest-create").disabled`), "the person may try again")
		sharedShot(t, ctx, "share-guest-off")
	})

	t.Run("a guest link for 15 minutes", func(t *testing.T) {
		shares.mu.Lock()
		shares.guestOff = false
		shares.mu.Unlock()
		do(t, ctx, chromedp.SetValue(chromedp.ID("share-guest-ttl"), "900"))
		eval[chromedp.Void](t, ctx, `document.getElementById("share-guest-create").click()`)
		waitJS(t, ctx, `document.getElementById("share-guest-out").checkVisibility()`, 5*time.Second)
		assert.False(t, visible(t, ctx, "share-guest-error"), "the earlier refusal is gone")
		assert.Equal(t, srv.URL+"/console/#guest=token-2", eval[string](t, ctx, `document.getElementById("share-guest-link").value`))
		post := shares.lastCall(t, "POST")
		assert.Equal(t, map[string]any{"kind": "guest", "ttl_seconds": float64(900)}, post.Body)
		assert.Equal(t, "Bearer "+refreshedToken, post.Auth)
		assert.Regexp(t, `^Expires at .+ \(in 1[45] min\)\. Anyone with this link can watch until then\.$`, text(t, ctx, "share-guest-status"))
	})

	t.Run("the live links", func(t *testing.T) {
		shares.set(1, "joined", 2)
		shares.set(2, "created_by_name", `Alice <img src=x onerror="window.__pwned=3">`)
		// A link revoked elsewhere (kvmctl), one that expired and one the relay calls dead are
		// not live.
		shares.mu.Lock()
		shares.shares = append(shares.shares,
			map[string]any{"id": "sh_old", "kind": "guest", "expires_at": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "created_by_name": "Bob", "joined": 0},
			map[string]any{"id": "sh_gone", "kind": "member", "expires_at": nil, "revoked_at": time.Now().UTC().Format(time.RFC3339), "created_by_name": "Bob", "joined": 0},
			map[string]any{"id": "sh_dead", "kind": "member", "expires_at": nil, "created_by_name": "Bob", "joined": 0, "live": false})
		shares.mu.Unlock()
		eval[chromedp.Void](t, ctx, `document.getElementById("share-reload").click()`)
		waitJS(t, ctx, `document.getElementById("share-list").textContent.includes("2 people watching")`, 5*time.Second)
		rows := eval[[]string](t, ctx, `[...document.querySelectorAll("#share-list .share-item")].map((li) => li.innerText.replace(/\s+/g, " ").trim())`)
		require.Len(t, rows, 2, "revoked, expired and dead links are not listed")
		assert.Regexp(t, `^Guest Created by Alice <img src=x onerror="window.__pwned=3"> Expires at .+ \(in 1[45] min\) · Nobody joined yet Revoke$`, rows[0], "newest first")
		assert.Equal(t, "Colleague Created by Alice Moreau Until this session ends · 2 people watching Revoke", rows[1])
		assert.Equal(t, 0, eval[int](t, ctx, `document.querySelectorAll("#share-dialog img").length`), "names stay text")
		assert.Equal(t, "2 live links. Revoking one disconnects whoever joined through it.", text(t, ctx, "share-list-status"))
		sharedShot(t, ctx, "share-dialog")
	})

	t.Run("revoke", func(t *testing.T) {
		deletes := shares.count("DELETE")
		eval[chromedp.Void](t, ctx, `document.querySelector("#share-list [data-revoke='sh_2']").click()`)
		waitJS(t, ctx, `document.querySelectorAll("#share-list .share-item").length === 1`, 5*time.Second)
		require.Equal(t, deletes+1, shares.count("DELETE"))
		del := shares.lastCall(t, "DELETE")
		assert.Equal(t, "/api/v1/console/shares/sh_2", del.Path)
		assert.Equal(t, "Bearer "+refreshedToken, del.Auth)
		assert.False(t, visible(t, ctx, "share-guest-out"), "the revoked link is no longer offered for copying")
		assert.True(t, visible(t, ctx, "share-member-out"))
		assert.Contains(t, text(t, ctx, "share-list"), "Colleague")
	})

	t.Run("Done closes and gives the screen the keyboard", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("share-done").click()`)
		waitJS(t, ctx, `!document.getElementById("share-dialog").open`, 5*time.Second)
		assert.True(t, eval[bool](t, ctx, `document.activeElement === document.getElementById("stage")`))
	})

	t.Run("only for grants that may hold control", func(t *testing.T) {
		for _, tc := range []struct {
			grant wire.Grant
			want  bool
		}{
			{wire.GrantView, false},
			{wire.GrantControl, true},
			{wire.GrantView, false},
			{wire.GrantAdmin, true},
		} {
			relay.sendRoster(t, wire.Roster{Participants: people(tc.grant), Controller: bobSID})
			waitJS(t, ctx, fmt.Sprintf(`window.kvm.roster?.participants[0].grant === %q`, tc.grant), 5*time.Second)
			waitJS(t, ctx, fmt.Sprintf(`document.getElementById("btn-share").checkVisibility() === %t`, tc.want), 5*time.Second)
			if tc.want {
				eval[chromedp.Void](t, ctx, `document.getElementById("btn-share").click()`)
				waitJS(t, ctx, `document.getElementById("share-dialog").open`, 5*time.Second)
			} else {
				assert.False(t, eval[bool](t, ctx, `document.getElementById("share-dialog").open`), "a dialog open when the grant fell to view closes")
			}
		}
	})

	t.Run("the session ends: nothing left to share", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-disconnect").click()`)
		waitJS(t, ctx, `window.kvm.state === "closed"`, 5*time.Second)
		assert.False(t, visible(t, ctx, "btn-share"))
		assert.False(t, eval[bool](t, ctx, `document.getElementById("share-dialog").open`))
		assert.Empty(t, eval[string](t, ctx, `document.getElementById("share-member-link").value`), "a dead link is not kept on the page")
	})

	assert.False(t, eval[bool](t, ctx, `window.__pwned === 3`))
	log.drop("403") // guest links off
	log.drop("favicon")
	checkClean(t, ctx, log)
}

// guestJoin is a fake POST /api/v1/guest/join: "gtok" lets a guest in (unless the name is
// "Bad Name"); the others refuse as the contract says.
type guestJoin struct {
	mu    sync.Mutex
	calls []map[string]string
}

func (g *guestJoin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad-request", "message": "The body is not JSON."})
		return
	}
	g.mu.Lock()
	g.calls = append(g.calls, body)
	g.mu.Unlock()
	if r.Header.Get("Authorization") != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad-request", "message": "A guest has no token to send."})
		return
	}
	switch {
	case body["token"] == "gtok-gone":
		writeJSON(w, http.StatusGone, map[string]string{"code": "gone", "message": "This guest link expired."})
	case body["token"] == "gtok-off":
		writeJSON(w, http.StatusForbidden, map[string]string{"code": "forbidden",
			"message": "Guest links are off for this organization; an owner can turn them on in the organization's settings."})
	case body["token"] == "gtok-member":
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "not-found",
			"message": "This link is for members of the organization that shared it: open it in a browser and sign in to watch."})
	case body["token"] != "gtok":
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "not-found", "message": "This link is not known."})
	case body["name"] == "Bad Name":
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad-request", "message": "Names are 1 to 64 printable characters; try another."})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"token": testToken, "expires_at": time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339),
			"device": "d_1", "session": testSID, "device_name": "lab-01", "principal_name": body["name"] + " (guest)", "grant": "view",
			"shared_by": "Alice Moreau"})
	}
}

func (g *guestJoin) list() []map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]string(nil), g.calls...)
}

// TestConsoleGuestJoin: a guest link asks the guest's name (saying they will only watch),
// refuses an empty one itself and shows the API's refusal of a bad one, then joins with the
// cleaned name, runs the console with the token the API answered (the relay accepts it), and
// once the agent's roster says grant view the console only watches: no Share, no input.
func TestConsoleGuestJoin(t *testing.T) {
	join := &guestJoin{}
	relay, srv := startRelay(t, map[string]http.Handler{"POST /api/v1/guest/join": join})
	ctx, log := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 720))
	navigate(t, ctx, srv.URL+"/console/#guest=gtok")
	waitJS(t, ctx, `window.kvm.state === "guest-name"`, 10*time.Second)

	t.Run("the name first", func(t *testing.T) {
		overlay := text(t, ctx, "overlay")
		for _, want := range []string{"Join a shared console", "You are joining a shared console as a guest: you can watch, not type.", "Your name"} {
			assert.Contains(t, overlay, want)
		}
		assert.True(t, visible(t, ctx, "guest-form"))
		assert.False(t, visible(t, ctx, "toolbar"), "nothing to control yet")
		assert.True(t, eval[bool](t, ctx, `document.activeElement === document.getElementById("guest-name")`))
		assert.Equal(t, "#guest=gtok", eval[string](t, ctx, `location.hash`), "kept until the guest is in: a reload keeps the form")
		sharedShot(t, ctx, "guest-name")

		eval[chromedp.Void](t, ctx, `document.getElementById("guest-join").click()`)
		waitJS(t, ctx, `document.getElementById("guest-error").checkVisibility()`, 5*time.Second)
		assert.Equal(t, "Type your name: the others on this console see it.", text(t, ctx, "guest-error"))
		assert.Empty(t, join.list(), "nothing sent without a name")
	})

	t.Run("a name the relay refuses", func(t *testing.T) {
		do(t, ctx, chromedp.SendKeys(chromedp.ID("guest-name"), "Bad Name"))
		eval[chromedp.Void](t, ctx, `document.getElementById("guest-join").click()`)
		waitJS(t, ctx, `document.getElementById("guest-error").textContent.startsWith("Names are")`, 5*time.Second)
		assert.Equal(t, "guest-name", eval[string](t, ctx, `window.kvm.state`))
		assert.False(t, eval[bool](t, ctx, `document.getElementById("guest-join").disabled`))
	})

	t.Run("joins and connects", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("guest-name").value = ""`)
		do(t, ctx, chromedp.SendKeys(chromedp.ID("guest-name"), "  Jane    Roe "))
		do(t, ctx, chromedp.SendKeys(chromedp.ID("guest-name"), "\r")) // Enter submits
		waitJS(t, ctx, `window.kvm.state === "waiting-agent"`, 10*time.Second)
		calls := join.list()
		require.Len(t, calls, 2)
		assert.Equal(t, map[string]string{"token": "gtok", "name": "Jane Roe"}, calls[1], "the name as the relay keeps it")
		assert.Empty(t, eval[string](t, ctx, `location.hash`), "the link leaves the address bar once used")
		assert.Equal(t, "Jane Roe (guest)", text(t, ctx, "person-name"))
		assert.Equal(t, "lab-01", text(t, ctx, "device-name"))
		assert.Contains(t, eval[string](t, ctx, `document.getElementById("toast").textContent`), "Alice Moreau shared this console with you")
		assert.False(t, visible(t, ctx, "guest-form"))
		assert.False(t, visible(t, ctx, "btn-share"), "the join said view: no Share even before a roster")
	})

	agentCtx := bringAgent(t, ctx, srv.URL)

	t.Run("view only", func(t *testing.T) {
		relay.sendRoster(t, wire.Roster{
			Participants: []wire.Participant{
				{SID: bobSID, Name: "Alice Moreau", Grant: wire.GrantControl},
				{SID: testSID, Name: "Jane Roe (guest)", Grant: wire.GrantView},
			},
			Controller: bobSID,
			Event:      &wire.RosterEvent{Kind: wire.EventJoined, Subject: testSID},
		})
		waitJS(t, ctx, `window.kvm.inControl === false`, 5*time.Second)
		assert.Equal(t, "You are watching (view only) — Alice Moreau is in control", text(t, ctx, "control-text"))
		assert.False(t, visible(t, ctx, "btn-share"), "a viewer cannot share")
		assert.False(t, visible(t, ctx, "btn-request"), "a viewer cannot ask for control")
		assert.True(t, eval[bool](t, ctx, `document.getElementById("btn-cad").disabled`))

		eval[chromedp.Void](t, ctx, `document.getElementById("stage").focus()`)
		before := inputAtAgent(t, agentCtx)
		typeAndClick(t, ctx)
		settleHID(t, agentCtx)
		assert.Equal(t, before, inputAtAgent(t, agentCtx), "a guest's input reached the agent")
		sharedShot(t, ctx, "guest-watching")
	})

	log.drop("400") // the refused name
	log.drop("favicon")
	checkClean(t, ctx, log)
}

// TestConsoleGuestLinkRefused: a guest link the relay refuses ends on the console's card with
// the API's sentence and what to do, and no Retry.
func TestConsoleGuestLinkRefused(t *testing.T) {
	join := &guestJoin{}
	srv := serveConsole(t, map[string]http.Handler{"POST /api/v1/guest/join": join})
	ctx, log := openBrowser(t)
	for _, tc := range []struct {
		token, want string
	}{
		{"gtok-gone", "This guest link expired. Ask the person who sent you this link for a new one."},
		{"gtok-unknown", "This link is not known. Ask the person who sent you this link for a new one."},
		{"gtok-member", "This link is for members of the organization that shared it: open it in a browser and sign in to watch."},
		{"gtok-off", "Guest links are off for this organization; an owner can turn them on in the organization's settings. Tell the person who sent you this link."},
	} {
		t.Run(tc.token, func(t *testing.T) {
			// A query of its own: a new document, not a jump within the last one.
			navigate(t, ctx, srv.URL+"/console/?case="+tc.token+"#guest="+tc.token)
			waitJS(t, ctx, `window.kvm.state === "guest-name"`, 10*time.Second)
			eval[chromedp.Void](t, ctx, `document.getElementById("guest-name").value = "Jane Roe"`)
			eval[chromedp.Void](t, ctx, `document.getElementById("guest-join").click()`)
			waitJS(t, ctx, `window.kvm.state === "failed"`, 10*time.Second)
			assert.Equal(t, tc.want, text(t, ctx, "overlay-detail"))
			assert.Equal(t, tc.want, eval[string](t, ctx, `window.kvm.lastError.message`))
			assert.False(t, visible(t, ctx, "overlay-retry"), "retrying cannot help")
			assert.False(t, visible(t, ctx, "guest-form"))
			assert.Empty(t, eval[string](t, ctx, `location.hash`))
		})
	}
	for _, code := range []string{"410", "404", "403"} {
		log.drop(code)
	}
	log.drop("favicon")
	checkClean(t, ctx, log)
}

// TestShareLinkRouting: a colleague's share link opened on the console page goes to the
// dashboard, fragment and all (the dashboard signs in first).
func TestShareLinkRouting(t *testing.T) {
	url := serveDashboard(t, nil)
	ctx, _ := openBrowser(t)
	navigateUntil(t, ctx, url+"/console/#share=stok", `document.body.dataset.view === "signin"`)
	assert.Equal(t, "/", eval[string](t, ctx, `location.pathname`))
	assert.Empty(t, eval[string](t, ctx, `location.hash`), "the dashboard takes the token out of the address bar")
	assert.Equal(t, "stok", eval[string](t, ctx, `sessionStorage.getItem("kvmrelay.dashboard.share")`))
}

// TestShareFormatting: what the Share dialog and the guest form say and keep, case by case.
func TestShareFormatting(t *testing.T) {
	ctx := rosterPage(t)
	now := time.Date(2025, 3, 14, 10, 0, 0, 0, time.Local)
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	for _, tc := range []struct {
		name, js string
		want     any
	}{
		{"a colleague's link lasts the session", fmt.Sprintf(`m.expiryText({expiresAt: null}, %d)`, ms(0)), "Until this session ends"},
		{"an expired one", fmt.Sprintf(`m.expiryText({expiresAt: %d}, %d)`, ms(-time.Second), ms(0)), "Expired"},
		{"minutes, rounded up", `m.duration(14 * 60000 + 1)`, "15 min"},
		{"under a minute is a minute", `m.duration(1000)`, "1 min"},
		{"whole hours", `m.duration(8 * 3600000)`, "8 h"},
		{"hours and minutes", `m.duration(2 * 3600000 + 5 * 60000)`, "2 h 5 min"},
		{"nobody joined", `m.joinedText(0)`, "Nobody joined yet"},
		{"one watching", `m.joinedText(1)`, "1 person watching"},
		{"several watching", `m.joinedText(3)`, "3 people watching"},
		{"not a share", `m.parseShare({id: "sh_1", kind: "owner"})`, nil},
		{"no id", `m.parseShare({kind: "member"})`, nil},
		{"a share", `m.parseShare({id: "sh_1", kind: "guest", expires_at: "2025-03-14T10:15:00Z", created_by: "user:u1", created_by_name: " Ann ", joined: 2, revoked_at: null})`,
			map[string]any{"id": "sh_1", "kind": "guest", "expiresAt": float64(time.Date(2025, 3, 14, 10, 15, 0, 0, time.UTC).UnixMilli()),
				"createdBy": "Ann", "createdAt": nil, "joined": float64(2), "revoked": false, "live": true}},
		{"the relay says a share is dead", `m.parseShare({id: "sh_1", kind: "member", live: false}).live`, false},
		{"the principal when there is no name", `m.parseShare({id: "sh_1", kind: "member", created_by: "key:ci"}).createdBy`, "key:ci"},
		{"a nonsense count", `m.parseShare({id: "sh_1", kind: "member", joined: -4}).joined`, float64(0)},
		{"live: not revoked, not expired, newest first", fmt.Sprintf(`m.liveShares([
			{id: "a", revoked: false, expiresAt: null, createdAt: 1},
			{id: "b", revoked: true, expiresAt: null, createdAt: 2},
			{id: "c", revoked: false, expiresAt: %d, createdAt: 3},
			{id: "d", revoked: false, expiresAt: %d, createdAt: 4},
			{id: "e", revoked: false, expiresAt: null, createdAt: 5, live: false},
		], %d).map((s) => s.id)`, ms(-time.Minute), ms(time.Minute), ms(0)), []any{"d", "a"}},
		{"guest name: spaces collapse", `g.cleanName("  Jane \t\n Roe ")`, "Jane Roe"},
		{"guest name: control characters go", "g.cleanName(\"Ja\\u0000ne\\u200bR\\u0007\")", "Ja ne R"},
		{"guest name: at most 64 characters", `g.cleanName("x".repeat(80)).length`, float64(64)},
		{"guest name: only spaces is none", `g.cleanName("   ")`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := eval[any](t, ctx, `Promise.all([import("/console/js/shares.js"), import("/console/js/guest.js")]).then(([m, g]) => `+tc.js+`)`)
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("a guest link's expiry says when and how long", func(t *testing.T) {
		got := eval[string](t, ctx, fmt.Sprintf(`import("/console/js/shares.js").then((m) => m.expiryText({expiresAt: %d}, %d))`, ms(45*time.Minute), ms(0)))
		assert.Regexp(t, `^Expires at \d{1,2}:45( [AP]M)? \(in 45 min\)$`, got)
		got = eval[string](t, ctx, fmt.Sprintf(`import("/console/js/shares.js").then((m) => m.expiryText({expiresAt: %d}, %d))`, ms(20*time.Hour), ms(0)))
		assert.Regexp(t, `^Expires at \S+ \d{1,2}:00( [AP]M)? \(in 20 h\)$`, got, "another day names the day")
	})

	t.Run("the console link a join goes to: its code, on this origin", func(t *testing.T) {
		for _, tc := range []struct {
			url  string
			want any
		}{
			{"https://relay.example/console/#code=abc", "BASE/console/#code=abc"},
			{"https://relay.example/console/#code=a%2Bb&relay=1", "BASE/console/#code=a%2Bb"},
			{"javascript:alert(1)//console/#code=x", "BASE/console/#code=x"},
			{"/console/#code=abc", nil},
			{"https://relay.example/console/", nil},
			{"https://relay.example/evil/#code=abc", nil},
			{"", nil},
		} {
			got := eval[any](t, ctx, fmt.Sprintf(`import("/console/js/dashboard/consoles.js").then((m) => m.consoleURL(%q))`, tc.url))
			if s, ok := tc.want.(string); ok {
				tc.want = strings.Replace(s, "BASE", eval[string](t, ctx, `location.origin`), 1)
			}
			assert.Equal(t, tc.want, got, tc.url)
		}
	})
}
