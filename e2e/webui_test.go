package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestDashboardConsole is the product from the browser, on a real relay: sign in to the
// dashboard, see the enrolled device online with what its agent reports, open its console from
// the list (a new tab) and see video frames decode there, then stop the session from the list
// and see the console told so. The refresh token is never visible to the page's scripts, and a
// reload resumes the session from its cookie.
func TestDashboardConsole(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack-1", map[string]string{"site": "fra1"})
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30})

	ctx := testenv.Chromium(t)
	probeCSP(t, ctx)
	dashboard(t, ctx, s.url+"/", "signin")
	shot(t, ctx, "signin")
	signIn(t, ctx, "acme", acme.email, webPassword)

	row := rowSel(dev.ID)
	waitJS(t, ctx, `document.querySelector('`+row+`')?.dataset.online === "true"`, 20*time.Second, "the device online in the list")
	cells, err := js[map[string]string](ctx, `(() => {
		const r = document.querySelector('`+row+`');
		const f = (n) => r.querySelector('[data-field="' + n + '"]').textContent;
		return {name: f("name"), presence: f("presence"), version: f("version"), caps: f("capabilities"), labels: f("labels"),
			who: document.getElementById("who").textContent};
	})()`)
	require.NoError(t, err)
	assert.Equal(t, "rack-1", cells["name"])
	assert.Equal(t, "Online", cells["presence"])
	assert.Equal(t, "0.1.0", cells["version"], "the agent's version, from its heartbeat")
	assert.Contains(t, cells["caps"], "testpattern")
	assert.Contains(t, cells["caps"], "640x360")
	assert.Equal(t, "site=fra1", cells["labels"])
	assert.Contains(t, cells["who"], "owner")
	shot(t, ctx, "devices")

	// Tokens: nothing a script could steal. The refresh token is an HttpOnly cookie, the access
	// token lives in memory only.
	stored, err := js[string](ctx, `document.cookie + "|" + JSON.stringify(Object.assign({}, localStorage)) + "|" + JSON.stringify(Object.assign({}, sessionStorage))`)
	require.NoError(t, err)
	assert.NotContains(t, stored, "kvmrelay_refresh")
	assert.NotContains(t, stored, "eyJ", "no JWT in script-readable storage")

	// A reload resumes from the cookie, without the form.
	dashboard(t, ctx, s.url+"/", "devices")
	waitJS(t, ctx, `document.querySelector('`+row+`')?.dataset.online === "true"`, 20*time.Second, "the device after a reload")

	// Open console: a new tab on the one-time console URL, where frames decode.
	tabs := chromedp.WaitNewTarget(ctx, func(*target.Info) bool { return true })
	click(t, ctx, row+` button[data-action="open"]`)
	var tabID target.ID
	select {
	case tabID = <-tabs:
	case <-time.After(15 * time.Second):
		t.Fatal("Open console opened no tab")
	}
	consoleCtx, closeConsole := chromedp.NewContext(ctx, chromedp.WithTargetID(tabID))
	defer closeConsole()
	waitJS(t, consoleCtx, `location.pathname === "/console/" && window.kvm && window.kvm.state === "connected"`, 30*time.Second, "the console connected")
	waitJS(t, consoleCtx, `window.kvm.framesDecoded > 0`, 20*time.Second, "decoded frames in the console")
	hash, err := js[string](consoleCtx, `location.hash`)
	require.NoError(t, err)
	assert.NotContains(t, hash, "code=", "the console took its one-time code out of the address bar")
	shot(t, consoleCtx, "console")

	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sessions, err := acme.api.DeviceSessions(ctx2, dev.ID)
	require.NoError(t, err)
	require.NotEmpty(t, sessions)
	assert.Equal(t, "ACTIVE", string(sessions[0].Current))

	// The list shows the console's state; Stop ends it, and the console is told.
	waitJS(t, ctx, `document.querySelector('`+row+` [data-field="session"]').dataset.live === "true"`, 20*time.Second, "the live session in the list")
	click(t, ctx, row+` button[data-action="stop"]`)
	waitJS(t, consoleCtx, `window.kvm.state === "closed"`, 15*time.Second, "the console closed by the stop")
	waitJS(t, ctx, `document.querySelector('`+row+` [data-field="session"]').dataset.live === "false"`, 15*time.Second, "the list showing the session ended")
	notice, err := js[string](ctx, `document.getElementById("notice").textContent`)
	require.NoError(t, err)
	assert.Contains(t, notice, "Stopped 1 console session")
	got, err := acme.api.Session(ctx2, sessions[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "STOPPED", string(got.Current))

	// Signing out revokes the refresh token: a reload lands on the form again.
	signOut(t, ctx)
	dashboard(t, ctx, s.url+"/", "signin")
	violations, err := js[[]string](ctx, `window.__cspViolations ?? []`)
	require.NoError(t, err)
	assert.Empty(t, violations)
}

// TestDashboardHostileDevice is SECURITY.md item 12 in the browser: a device named with markup by
// an admin and an agent reporting markup as its version and capabilities are shown as the
// literal text they are — no element is made from them, no script runs, the CSP is never even
// tested — and an owner of another organization never sees the device.
func TestDashboardHostileDevice(t *testing.T) {
	const (
		hostileName = `lab-01 <img src=x onerror="window.__pwned=1">`
		hostileVer  = `<script>window.__pwned=2</script>`
		hostileSrc  = `<img src=x onerror="window.__pwned=3">`
		hostileSize = `<svg onload="window.__pwned=4">`
		hostileCdc  = `video/H264"><b>bold</b>`
		hostileErr  = `dial tcp: <img src=x onerror="window.__pwned=5">`
	)
	s, tenants := newControlRelay(t, "acme", "globex")
	acme, globex := tenants["acme"], tenants["globex"]
	dev, id, hc := enrollDevice(t, s, acme, hostileName, map[string]string{"owner": `<i>x</i>`})
	reportAs(t, s, id, hc, wire.Heartbeat{Version: hostileVer, Sources: []string{hostileSrc}, Sizes: []string{hostileSize}, Codecs: []string{hostileCdc},
		Signal: &wire.SourceHealth{Source: hostileSrc, State: "no-signal", Error: hostileErr, Since: time.Now().UnixMilli()}})
	other, _, _ := enrollDevice(t, s, globex, "globex-01", nil)

	ctx := testenv.Chromium(t)
	probeCSP(t, ctx)
	dashboard(t, ctx, s.url+"/", "signin")
	signIn(t, ctx, "acme", acme.email, webPassword)
	row := rowSel(dev.ID)
	waitJS(t, ctx, `document.querySelector('`+row+`')?.dataset.online === "true" && document.querySelector('`+row+` [data-field="version"]').textContent !== "–"`,
		20*time.Second, "the hostile device online with its report")
	shot(t, ctx, "hostile")

	seen, err := js[map[string]any](ctx, `(() => {
		const r = document.querySelector('`+row+`');
		const f = (n) => r.querySelector('[data-field="' + n + '"]').textContent;
		return {
			name: f("name"), version: f("version"), caps: f("capabilities"), labels: f("labels"),
			signal: f("signal"), signalWhy: r.querySelector('[data-field="signal"]').title,
			elements: document.querySelectorAll("#device-rows img, #device-rows script, #device-rows svg, #device-rows b, #device-rows i").length,
			anyImgX: document.querySelectorAll('img[src="x"]').length,
			pwned: window.__pwned ?? null,
			violations: window.__cspViolations ?? [],
			otherShown: !!document.querySelector('`+rowSel(other.ID)+`'),
		};
	})()`)
	require.NoError(t, err)
	assert.Equal(t, hostileName, seen["name"], "the name shown literally")
	assert.Equal(t, hostileVer, seen["version"], "the version shown literally")
	for _, want := range []string{hostileSrc, hostileSize, hostileCdc} {
		assert.Contains(t, seen["caps"], want, "capabilities shown literally")
	}
	assert.Equal(t, `owner=<i>x</i>`, seen["labels"])
	assert.Equal(t, "No signal", seen["signal"], "an online agent whose machine gives no signal says so")
	assert.Contains(t, seen["signalWhy"], hostileErr, "with the reason, as text")
	assert.EqualValues(t, 0, seen["elements"], "no element was made from device data")
	assert.EqualValues(t, 0, seen["anyImgX"])
	assert.Nil(t, seen["pwned"], "no script ran")
	assert.Empty(t, seen["violations"], "nothing even tried to run: the CSP had nothing to block")
	assert.Equal(t, false, seen["otherShown"], "another organization's device is not listed")

	// The filter searches the same text, inertly.
	fill(t, ctx, "#device-filter", "<script>")
	waitJS(t, ctx, `document.querySelectorAll("#device-rows tr").length === 1`, 5*time.Second, "the filter to keep the hostile row")
	fill(t, ctx, "#device-filter", "no-such-device")
	waitJS(t, ctx, `document.querySelectorAll("#device-rows tr").length === 0 && !document.getElementById("devices-message").hidden`, 5*time.Second, "the filter to hide it")
	fill(t, ctx, "#device-filter", "")

	// Another organization's owner, in the same browser: their own device, never this one.
	signOut(t, ctx)
	signIn(t, ctx, "globex", globex.email, webPassword)
	waitJS(t, ctx, `!!document.querySelector('`+rowSel(other.ID)+`')`, 15*time.Second, "globex's own device")
	leak, err := js[map[string]any](ctx, `({
		row: !!document.querySelector('`+row+`'),
		text: document.body.textContent.includes("lab-01") || document.body.textContent.includes("__pwned"),
		rows: document.querySelectorAll("#device-rows tr").length,
	})`)
	require.NoError(t, err)
	assert.Equal(t, false, leak["row"])
	assert.Equal(t, false, leak["text"], "nothing of acme's device anywhere on globex's page")
	assert.EqualValues(t, 1, leak["rows"])
	// And the API agrees: not found in globex's organization.
	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = globex.api.Device(ctx2, dev.ID)
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 404, apiErr.Status)
}

// TestDashboardInvitation: an admin invites a viewer through the API; the invitation link (as
// the relay builds it, under /console/) opened in Chromium leads to the dashboard's form; the
// invitee sets a password and is signed in, with what a viewer may not do disabled; after
// signing out, signing in with the new password works; the link does not work twice.
func TestDashboardInvitation(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	dev, _, _ := enrollDevice(t, s, acme, "rack-1", nil)
	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inv, err := acme.api.InviteUser(ctx2, client.Invite{Email: "vera@acme.example", Role: "viewer"})
	require.NoError(t, err)
	require.NotEmpty(t, inv.Link)
	link, err := url.Parse(inv.Link)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link.Fragment, "invite="), "invite link %s", inv.Link)

	ctx := testenv.Chromium(t)
	probeCSP(t, ctx)
	// The relay's public URL is this relay's own address, so the link opens as it is.
	dashboard(t, ctx, inv.Link, "invite")
	loc, err := js[string](ctx, `location.pathname + location.hash`)
	require.NoError(t, err)
	assert.Equal(t, "/", loc, "routed to the dashboard, and the token gone from the address bar")
	shot(t, ctx, "invite")

	// Too short, then two that differ: said so, nothing sent.
	fill(t, ctx, "#invite-password", "short")
	fill(t, ctx, "#invite-confirm", "short")
	click(t, ctx, "#invite-submit")
	waitJS(t, ctx, `document.getElementById("invite-error").textContent.includes("at least 12")`, 5*time.Second, "the length rule")
	fill(t, ctx, "#invite-password", "a long new password 1")
	fill(t, ctx, "#invite-confirm", "a long new password 2")
	click(t, ctx, "#invite-submit")
	waitJS(t, ctx, `document.getElementById("invite-error").textContent.includes("differ")`, 5*time.Second, "the mismatch")

	const newPassword = "vera's brand new passphrase"
	fill(t, ctx, "#invite-password", newPassword)
	fill(t, ctx, "#invite-confirm", newPassword)
	click(t, ctx, "#invite-submit")
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 15*time.Second, "signed in after accepting")
	row := rowSel(dev.ID)
	waitJS(t, ctx, `!!document.querySelector('`+row+`')`, 15*time.Second, "the device list")
	who, err := js[string](ctx, `document.getElementById("who").textContent`)
	require.NoError(t, err)
	assert.Contains(t, who, "vera@acme.example")
	assert.Contains(t, who, "viewer")
	// A viewer watches consoles: the button says so and is enabled; there is no Stop.
	roleView, err := js[map[string]any](ctx, `(() => {
		const b = document.querySelector('`+row+` button[data-action="open"]');
		return {disabled: b.disabled, text: b.textContent, title: b.title, stop: !!document.querySelector('`+row+` button[data-action="stop"]')};
	})()`)
	require.NoError(t, err)
	assert.Equal(t, false, roleView["disabled"])
	assert.Equal(t, "Watch console", roleView["text"])
	assert.Contains(t, roleView["title"], "watches")
	assert.Equal(t, false, roleView["stop"])

	signOut(t, ctx)
	// The form remembers the organization; the new member signs in with the new password.
	org, err := js[string](ctx, `document.getElementById("signin-org").value`)
	require.NoError(t, err)
	assert.Equal(t, "acme", org)
	signIn(t, ctx, "acme", "vera@acme.example", newPassword)

	// A wrong password says what is wrong, in words.
	signOut(t, ctx)
	fill(t, ctx, "#signin-org", "acme")
	fill(t, ctx, "#signin-email", "vera@acme.example")
	fill(t, ctx, "#signin-password", "not the password at all")
	click(t, ctx, "#signin-submit")
	waitJS(t, ctx, `document.getElementById("signin-error").textContent.includes("wrong")`, 10*time.Second, "the wrong-password message")

	// The link works once.
	dashboard(t, ctx, inv.Link, "invite")
	fill(t, ctx, "#invite-password", newPassword)
	fill(t, ctx, "#invite-confirm", newPassword)
	click(t, ctx, "#invite-submit")
	waitJS(t, ctx, `document.getElementById("invite-error").textContent.includes("already used")`, 10*time.Second, "the used-up invitation")
	violations, err := js[[]string](ctx, `window.__cspViolations ?? []`)
	require.NoError(t, err)
	assert.Empty(t, violations)
}
