package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// member invites email with role into tn's organization, accepts the invitation and returns
// the member's API client, signed in as kvmctl would be.
func member(t *testing.T, ctx context.Context, s *stack, tn *tenant, email, role string) *client.Client {
	t.Helper()
	inv, err := tn.api.InviteUser(ctx, client.Invite{Email: email, Role: role})
	require.NoError(t, err)
	link, err := url.Parse(inv.Link)
	require.NoError(t, err)
	acceptInvitation(t, s.url, strings.TrimPrefix(link.Fragment, "invite="), webPassword)
	api, err := client.New(client.Config{Server: s.url, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	_, err = api.Login(ctx, client.LoginRequest{Org: tn.slug, Email: email, Password: webPassword})
	require.NoError(t, err)
	return api
}

// consoleTab opens, in a new tab of browser, a console on deviceID started by api.
func consoleTab(t *testing.T, ctx context.Context, browser context.Context, api *client.Client, deviceID string) context.Context {
	t.Helper()
	started, err := api.StartConsole(ctx, deviceID)
	require.NoError(t, err)
	tab, closeTab := chromedp.NewContext(browser)
	t.Cleanup(closeTab)
	openConsole(t, tab, started.ConsoleURL)
	return tab
}

// typeIn presses a key in tab and reports whether the machine counted a new key-down.
func typeIn(t *testing.T, tab context.Context, machine *testpattern.Source) bool {
	t.Helper()
	before := machine.KeyDownCount()
	require.NoError(t, press(tab, letterA))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if machine.KeyDownCount() > before {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// controllerName is the name the tab's roster shows in control ("" when nobody holds it).
func controllerName(tab context.Context) string {
	name, _ := js[string](tab, `(window.kvm.roster && window.kvm.roster.controller) || ""`)
	return name
}

// lastEvent is the kind of the last roster event the tab received.
func lastEvent(tab context.Context) string {
	kind, _ := js[string](tab, `(window.kvm.roster && window.kvm.roster.event && window.kvm.roster.event.kind) || ""`)
	return kind
}

// TestSharedConsoleHandoffInChromium: an owner and an operator on one device in two Chromium
// tabs, then a viewer in a third. One holds control at a time; the other's keys never reach
// the machine; control moves by request → approve, is declined, times out, is freed when its
// holder's tab closes with Ctrl held (released on the machine), and is taken by the admin,
// the one who had it being told. The viewer watches and cannot type.
func TestSharedConsoleHandoffInChromium(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack7-db1", nil)
	machine := runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30, controlTimeout: 3 * time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	olgaAPI := member(t, ctx, s, acme, "olga@acme.example", "operator")
	victorAPI := member(t, ctx, s, acme, "victor@acme.example", "viewer")

	browser := testenv.Chromium(t)
	owner := consoleTab(t, ctx, browser, acme.api, dev.ID)
	waitJS(t, owner, `window.kvm.inControl && window.kvm.roster && window.kvm.roster.controller === "owner@acme.example"`, 10*time.Second,
		"the lone owner in control")
	olga := consoleTab(t, ctx, browser, olgaAPI, dev.ID)
	waitJS(t, olga, `window.kvm.roster && window.kvm.roster.participants.length === 2 && !window.kvm.inControl`, 10*time.Second,
		"Olga watching, both listed")
	waitJS(t, owner, `window.kvm.roster.participants.some(p => p.name === "olga@acme.example")`, 10*time.Second, "the owner sees Olga join")
	shot(t, olga, "olga-watching")

	assert.True(t, typeIn(t, owner, machine), "the owner types")
	assert.False(t, typeIn(t, olga, machine), "Olga's keys do not reach the machine")

	// Olga asks, the owner is prompted and approves: keys now come from Olga, and the owner
	// is told.
	ok, err := js[bool](olga, `window.kvm.requestControl()`)
	require.NoError(t, err)
	require.True(t, ok)
	waitJS(t, owner, `window.kvm.controlBar === "prompt"`, 10*time.Second, "the owner prompted")
	shot(t, owner, "owner-prompted")
	_, err = js[bool](owner, `window.kvm.approve()`)
	require.NoError(t, err)
	waitJS(t, olga, `window.kvm.inControl`, 10*time.Second, "Olga in control")
	waitJS(t, owner, `!window.kvm.inControl && window.kvm.roster.controller === "olga@acme.example"`, 10*time.Second, "the owner told")
	assert.True(t, typeIn(t, olga, machine), "Olga types")
	assert.False(t, typeIn(t, owner, machine), "the owner's keys no longer reach the machine")

	// The owner asks back; Olga declines. Then asks again and nobody answers: it times out.
	_, err = js[bool](owner, `window.kvm.requestControl()`)
	require.NoError(t, err)
	waitJS(t, olga, `window.kvm.controlBar === "prompt"`, 10*time.Second, "Olga prompted")
	_, err = js[bool](olga, `window.kvm.decline()`)
	require.NoError(t, err)
	waitJS(t, owner, `window.kvm.roster.event && window.kvm.roster.event.kind === "declined"`, 10*time.Second, "the owner told of the decline")
	assert.Equal(t, "olga@acme.example", controllerName(owner))
	_, err = js[bool](owner, `window.kvm.requestControl()`)
	require.NoError(t, err)
	waitJS(t, owner, `window.kvm.roster.event && window.kvm.roster.event.kind === "timed-out"`, 15*time.Second, "the unanswered request timed out")
	assert.Equal(t, "olga@acme.example", controllerName(owner), "a timeout moves nothing")

	// Olga holds Ctrl and her tab goes away: Ctrl is released on the machine and control is
	// free.
	const ctrlBit = 2 // DevTools' modifier bit for Ctrl
	require.NoError(t, keyEvent(olga, input.DispatchKeyEventTypeRawKeyDown, key{"ControlLeft", "Control", 17}, ctrlBit))
	require.Eventually(t, func() bool { return heldHas(machine, hid.UsageLeftCtrl) }, 5*time.Second, 10*time.Millisecond, "Ctrl held on the machine")
	closed := time.Now()
	require.NoError(t, chromedp.Cancel(olga))
	require.Eventually(t, func() bool { return !heldHas(machine, hid.UsageLeftCtrl) }, 10*time.Second, 5*time.Millisecond,
		"Ctrl released when its holder's tab closed")
	t.Logf("Ctrl released %s after the controller's tab closed", time.Since(closed).Round(time.Millisecond))
	waitJS(t, owner, `window.kvm.roster.controller === null && window.kvm.roster.participants.length === 1`, 10*time.Second,
		"control freed, Olga gone")

	// A viewer watches, cannot ask, cannot type.
	victor := consoleTab(t, ctx, browser, victorAPI, dev.ID)
	waitJS(t, victor, `window.kvm.roster && window.kvm.roster.participants.some(p => p.you && p.grant === "view")`, 10*time.Second,
		"Victor view only")
	asked, err := js[bool](victor, `window.kvm.requestControl()`)
	require.NoError(t, err)
	assert.False(t, asked, "a viewer has no request to make")
	assert.False(t, typeIn(t, victor, machine), "the viewer's keys do not reach the machine")
	page, err := js[string](victor, `document.body.innerText`)
	require.NoError(t, err)
	assert.Contains(t, page, "view only")
	shot(t, victor, "victor-view-only")

	// Olga comes back and takes the free control on request; the owner (an admin) takes it
	// from her, and she is told.
	olga = consoleTab(t, ctx, browser, olgaAPI, dev.ID)
	waitJS(t, olga, `window.kvm.roster && window.kvm.roster.participants.length === 3`, 10*time.Second, "Olga back")
	_, err = js[bool](olga, `window.kvm.requestControl()`)
	require.NoError(t, err)
	waitJS(t, olga, `window.kvm.inControl`, 10*time.Second, "free control granted at once")
	took, err := js[bool](owner, `window.kvm.take()`)
	require.NoError(t, err)
	require.True(t, took)
	waitJS(t, olga, `!window.kvm.inControl && window.kvm.roster.event && window.kvm.roster.event.kind === "taken"`, 10*time.Second,
		"Olga told her control was taken")
	shot(t, olga, "olga-taken")
	assert.Equal(t, "owner@acme.example", controllerName(victor), "everyone sees who is in control")
	assert.True(t, typeIn(t, owner, machine))
	assert.False(t, typeIn(t, olga, machine))
	assert.Equal(t, "taken", lastEvent(victor))
}

func heldHas(machine *testpattern.Source, u hid.Usage) bool {
	for _, k := range machine.HeldKeys() {
		if hid.Usage(k) == u {
			return true
		}
	}
	return false
}
