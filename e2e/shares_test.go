package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// shareLink presses a Create button of the owner's Share dialog and returns the link it shows.
func shareLink(t *testing.T, tab context.Context, create, out string) string {
	t.Helper()
	click(t, tab, create)
	waitJS(t, tab, `document.getElementById("`+out+`").value.startsWith("http")`, 10*time.Second, "the link from "+create)
	link, err := js[string](tab, `document.getElementById("`+out+`").value`)
	require.NoError(t, err)
	return link
}

// TestShareLinksInChromium: an owner in a console shares it from the console's Share dialog
// with a colleague (an auditor, who has no console of their own) and, guest links turned on for
// the organization, with a guest without an account. The colleague opens the link, signs in and
// watches; the guest types a name and watches; neither can type; everyone sees everyone. Revoking
// the guest link cuts the guest, who is told why; all of it is in the audit chain.
func TestShareLinksInChromium(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack7-db1", nil)
	machine := runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	member(t, ctx, s, acme, "ana@acme.example", "auditor")
	on := true
	_, err := acme.api.UpdateOrgSettings(ctx, client.OrgSettings{GuestLinks: &on})
	require.NoError(t, err)

	browser := testenv.Chromium(t)
	owner := consoleTab(t, ctx, browser, acme.api, dev.ID)
	waitJS(t, owner, `window.kvm.inControl && !document.getElementById("btn-share").hidden`, 10*time.Second, "the owner may share")
	click(t, owner, "#btn-share")
	memberLink := shareLink(t, owner, "#share-member-create", "share-member-link")
	guestLink := shareLink(t, owner, "#share-guest-create", "share-guest-link")
	shot(t, owner, "share-dialog")
	click(t, owner, "#share-done")

	// The colleague: the link leads to the dashboard's sign-in, then to the console, watching.
	ana, closeAna := chromedp.NewContext(browser)
	defer closeAna()
	require.NoError(t, chromedp.Do(ana, chromedp.Navigate(memberLink)))
	waitJS(t, ana, `document.body.dataset.view === "signin"`, 15*time.Second, "the sign-in form first")
	fill(t, ana, "#signin-org", "acme")
	fill(t, ana, "#signin-email", "ana@acme.example")
	fill(t, ana, "#signin-password", webPassword)
	click(t, ana, "#signin-submit")
	waitJS(t, ana, `window.kvm && window.kvm.state === "connected" && window.kvm.framesDecoded > 0`, 30*time.Second, "Ana's console")
	waitJS(t, ana, `window.kvm.roster && window.kvm.roster.participants.some(p => p.you && p.grant === "view")`, 10*time.Second,
		"Ana watches, view only")
	assert.False(t, typeIn(t, ana, machine), "a shared link never gives control")

	// The guest: a name, then the console, watching.
	guest, closeGuest := chromedp.NewContext(browser)
	defer closeGuest()
	require.NoError(t, chromedp.Do(guest, chromedp.Navigate(guestLink)))
	waitJS(t, guest, `!document.getElementById("guest-form").hidden`, 15*time.Second, "the guest's name form")
	shot(t, guest, "guest-name")
	fill(t, guest, "#guest-name", "Jane Customer")
	click(t, guest, "#guest-join")
	waitJS(t, guest, `window.kvm && window.kvm.state === "connected" && window.kvm.framesDecoded > 0`, 30*time.Second, "the guest's console")
	waitJS(t, owner, `window.kvm.roster.participants.some(p => p.name === "Jane Customer (guest)" && p.grant === "view")`, 10*time.Second,
		"the owner sees the guest by name")
	waitJS(t, guest, `window.kvm.roster && window.kvm.roster.participants.length === 3`, 10*time.Second, "the guest sees everyone")
	assert.False(t, typeIn(t, guest, machine), "a guest cannot type")
	assert.True(t, typeIn(t, owner, machine), "the owner still types")
	shot(t, guest, "guest-watching")

	// Revoking the guest link cuts the guest at once, saying why; Ana stays.
	click(t, owner, "#btn-share")
	waitJS(t, owner, `[...document.querySelectorAll("#share-list li")].some(li => /guest/i.test(li.textContent))`, 10*time.Second, "the live links")
	_, err = js[bool](owner, `(() => {
		const li = [...document.querySelectorAll("#share-list li")].find(li => /guest/i.test(li.textContent));
		[...li.querySelectorAll("button")].find(b => /revoke/i.test(b.textContent)).click();
		return true;
	})()`)
	require.NoError(t, err)
	waitJS(t, guest, `window.kvm.state === "closed"`, 10*time.Second, "the guest cut")
	page, err := js[string](guest, `document.body.innerText`)
	require.NoError(t, err)
	assert.Contains(t, page, "the share link was revoked", "the guest is told why")
	assert.Contains(t, page, "Ask whoever shared this console with you for a new link", "and what to do next")
	shot(t, guest, "guest-revoked")
	waitJS(t, owner, `window.kvm.roster.participants.length === 2`, 10*time.Second, "the guest gone from the roster")
	anaState, err := js[string](ana, `window.kvm.state`)
	require.NoError(t, err)
	assert.Equal(t, "connected", anaState, "the colleague's link still works")

	var actions []string
	require.Eventually(t, func() bool {
		actions = nil
		err := acme.api.ExportAudit(ctx, 0, 500, func(e client.AuditEntry) error {
			actions = append(actions, e.Action)
			return nil
		})
		return err == nil && slices.Contains(actions, "share_revoke")
	}, 10*time.Second, 100*time.Millisecond)
	for _, a := range []string{"share_create", "share_join", "share_revoke"} {
		assert.Contains(t, actions, a)
	}
	raw, _ := json.Marshal(actions)
	t.Logf("audit: %s", raw)
}
