package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// The other participants of the shared machine in TestConsoleSharedSession; this console is
// testSID, called Alice Moreau.
const (
	bobSID   = "s_bob"
	carolSID = "s_carol"
	daveSID  = "s_dave"
)

// toConsole sends the console a message as the relay would forward it from the agent, with
// the console's own sid in the envelope.
func (r *fakeRelay) toConsole(t *testing.T, typ string, data any) {
	t.Helper()
	r.mu.Lock()
	console := r.console
	r.mu.Unlock()
	require.NotNil(t, console, "no console connected")
	require.NoError(t, console.send(typ, testSID, data))
}

// lastControl is the newest `control` message the console sent, and how many it sent.
func (r *fakeRelay) lastControl(t *testing.T) (wire.Control, int) {
	t.Helper()
	sent := r.sent("control")
	if len(sent) == 0 {
		return wire.Control{}, 0
	}
	var c wire.Control
	require.NoError(t, json.Unmarshal(sent[len(sent)-1].Data, &c))
	return c, len(sent)
}

// sendRoster feeds the console a roster, checked against the contract first so that the test
// only ever shows the page what a real agent may send.
func (r *fakeRelay) sendRoster(t *testing.T, roster wire.Roster) {
	t.Helper()
	require.NoError(t, roster.Check(), "the test's roster breaks the contract")
	r.toConsole(t, "roster", roster)
}

// people builds a roster's participants: Alice (this console) with the given grant, Bob and
// Dave (control, admin) and Carol (view only).
func people(aliceGrant wire.Grant, more ...wire.Participant) []wire.Participant {
	return append([]wire.Participant{
		{SID: testSID, Name: "Alice Moreau", Grant: aliceGrant},
		{SID: bobSID, Name: "Bob Chen", Grant: wire.GrantControl},
		{SID: carolSID, Name: "Carol Diaz", Grant: wire.GrantView},
		{SID: daveSID, Name: "Dave Okafor", Grant: wire.GrantAdmin},
	}, more...)
}

// sharedShot saves a screenshot in $KVMRELAY_SHOTS (as the e2e tests do) when it is set.
func sharedShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("KVMRELAY_SHOTS")
	if dir == "" {
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	time.Sleep(300 * time.Millisecond) // transitions settle
	screenshot(t, ctx, filepath.Join(dir, "web-shared-"+name+".png"))
}

// connectConsole opens the console on a one-time link and brings the fake agent up in a second
// tab, and waits for decoded video with the keyboard focus on the screen. agentCtx drives the
// agent's tab.
func connectConsole(t *testing.T) (relay *fakeRelay, ctx, agentCtx context.Context, log *pageLog) {
	t.Helper()
	relay, srv := startRelay(t)
	ctx, log = openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 720))
	navigate(t, ctx, srv.URL+"/console/#code="+testCode)
	waitJS(t, ctx, `window.kvm.state === "waiting-agent"`, 10*time.Second)
	return relay, ctx, bringAgent(t, ctx, srv.URL), log
}

// bringAgent starts the fake agent in a second tab for a console waiting for it (in ctx), and
// waits for decoded video with the keyboard focus on the screen. The result drives the agent's
// tab.
func bringAgent(t *testing.T, ctx context.Context, base string) context.Context {
	t.Helper()
	agentCtx, closeAgent := chromedp.NewContext(ctx)
	t.Cleanup(closeAgent)
	require.NoError(t, chromedp.Do(agentCtx)) // opens the tab, for as long as the test runs
	agentCtx = context.WithValue(agentCtx, pageLogKey{}, &pageLog{})
	navigateUntil(t, agentCtx, base+"/agent/", `window.agent !== undefined`)

	waitJS(t, ctx, `window.kvm.state === "connected" && window.kvm.framesDecoded > 0`, 30*time.Second)
	_, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{})
	require.NoError(t, err)
	eval[chromedp.Void](t, ctx, `document.getElementById("stage").focus()`)
	return agentCtx
}

// inputAtAgent lists what reached the fake agent that acts on the machine: every message on
// `pointer`, and on `hid` all but keep-alives (04) and probes (07).
func inputAtAgent(t *testing.T, agentCtx context.Context) []string {
	t.Helper()
	return eval[[]string](t, agentCtx, `[...window.agent.hid.filter((m) => !m.startsWith("04") && !m.startsWith("07")),
		...window.agent.pointer.map((m) => "pointer " + m)]`)
}

// settleHID waits until two more keep-alives reached the agent: anything the console sent on
// the ordered `hid` channel before them has arrived too.
func settleHID(t *testing.T, agentCtx context.Context) {
	t.Helper()
	n := eval[int](t, agentCtx, `window.agent.hid.filter((m) => m === "04").length`)
	waitFor(t, "keep-alives", func() bool {
		return eval[int](t, agentCtx, `window.agent.hid.filter((m) => m === "04").length`) >= n+2
	})
	time.Sleep(100 * time.Millisecond) // the unordered pointer channel
}

// typeAndClick presses and releases a key, clicks and scrolls over the screen.
func typeAndClick(t *testing.T, ctx context.Context) {
	t.Helper()
	key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyA", "a", 65, 0, false)
	key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyA", "a", 65, 0, false)
	mouse(t, ctx, input.DispatchMouseEventTypeMouseMoved, 600, 300, input.MouseButtonNone, 0)
	mouse(t, ctx, input.DispatchMouseEventTypeMousePressed, 600, 300, input.MouseButtonLeft, 1)
	mouse(t, ctx, input.DispatchMouseEventTypeMouseReleased, 600, 300, input.MouseButtonLeft, 0)
	mouse(t, ctx, input.DispatchMouseEventTypeMouseWheel, 600, 300, input.MouseButtonNone, 0, 100)
}

func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`document.getElementById(%q).innerText`, id))
}

func visible(t *testing.T, ctx context.Context, id string) bool {
	t.Helper()
	return eval[bool](t, ctx, fmt.Sprintf(`document.getElementById(%q).checkVisibility()`, id))
}

// waitToast waits for the toast to say want.
func waitToast(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	waitJS(t, ctx, fmt.Sprintf(`document.getElementById("toast").textContent === %q`, want), 5*time.Second)
}

// TestConsoleSharedSession runs the console on a machine it shares with others: the fake relay
// feeds it the agent's rosters, and the test checks what the person sees (names, badges, the
// watching hint, the request countdown, the approve prompt, toasts from their point of view),
// what the console sends (`control` moves; no input while it does not hold control), and that
// control comes and goes without a reload or a new peer connection.
func TestConsoleSharedSession(t *testing.T) {
	relay, ctx, agentCtx, log := connectConsole(t)
	sessions := eval[int](t, agentCtx, `window.agent.sessions`)

	t.Run("before any roster the console is alone and in control", func(t *testing.T) {
		assert.Nil(t, eval[any](t, ctx, `window.kvm.roster`))
		assert.True(t, eval[bool](t, ctx, `window.kvm.inControl`))
		assert.Equal(t, "hidden", eval[string](t, ctx, `window.kvm.controlBar`))
		assert.False(t, visible(t, ctx, "btn-people"), "no people button without a roster")
		assert.False(t, visible(t, ctx, "control-bar"))
		assert.False(t, eval[bool](t, ctx, `document.getElementById("btn-cad").disabled`))
		before := len(inputAtAgent(t, agentCtx))
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyA", "a", 65, 0, false)
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyA", "a", 65, 0, false)
		waitFor(t, "the key at the agent", func() bool { return len(inputAtAgent(t, agentCtx)) >= before+2 })
	})

	t.Run("a lone operator is in control at once, quietly", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("toast").textContent = ""`)
		relay.sendRoster(t, wire.Roster{
			Participants: []wire.Participant{{SID: testSID, Name: "Alice Moreau", Grant: wire.GrantControl}},
			Controller:   testSID,
			Event:        &wire.RosterEvent{Kind: wire.EventGranted, Subject: testSID},
		})
		waitJS(t, ctx, `window.kvm.roster !== null`, 5*time.Second)
		assert.True(t, eval[bool](t, ctx, `window.kvm.inControl`))
		assert.Equal(t, "hidden", eval[string](t, ctx, `window.kvm.controlBar`))
		assert.Equal(t, "1", text(t, ctx, "people-count"))
		assert.Empty(t, eval[string](t, ctx, `document.getElementById("toast").textContent`), "nobody else to hear it from")
		assert.False(t, eval[bool](t, ctx, `document.getElementById("btn-cad").disabled`))
	})

	t.Run("watching", func(t *testing.T) {
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantControl),
			Controller:   bobSID,
			Event:        &wire.RosterEvent{Kind: wire.EventJoined, Subject: carolSID},
		})
		waitJS(t, ctx, `window.kvm.inControl === false`, 5*time.Second)
		waitToast(t, ctx, "Carol Diaz joined")
		assert.Equal(t, "watching", eval[string](t, ctx, `window.kvm.controlBar`))
		assert.Equal(t, "Watching — Bob Chen is in control", text(t, ctx, "control-text"))
		assert.True(t, visible(t, ctx, "btn-request"), "a control grant may ask for control")
		assert.False(t, visible(t, ctx, "btn-take"), "only an admin takes control")
		assert.Equal(t, "4", text(t, ctx, "people-count"))
		for _, id := range []string{"btn-cad", "btn-keys", "btn-paste", "btn-mouse"} {
			assert.True(t, eval[bool](t, ctx, fmt.Sprintf(`document.getElementById(%q).disabled`, id)), "%s while watching", id)
			assert.Contains(t, eval[string](t, ctx, fmt.Sprintf(`document.getElementById(%q).title`, id)), "Bob Chen is in control")
		}
		assert.False(t, eval[bool](t, ctx, `document.getElementById("btn-disconnect").disabled`), "a watcher may still leave")

		eval[chromedp.Void](t, ctx, `document.getElementById("btn-people").click()`)
		waitJS(t, ctx, `document.getElementById("people-panel").matches(":popover-open")`, 5*time.Second)
		panel := text(t, ctx, "people-panel")
		for _, want := range []string{"Alice Moreau", "(you)", "Bob Chen", "In control", "Carol Diaz", "watching · view only", "Dave Okafor", "Request control"} {
			assert.Contains(t, panel, want)
		}
		assert.NotRegexp(t, `s_[a-z]+`, panel, "session ids are not for people")
		assert.Equal(t, 0, eval[int](t, ctx, `document.querySelectorAll("#people-list [data-pass]").length`), "only the controller passes control")
		sharedShot(t, ctx, "watching-panel")
		eval[chromedp.Void](t, ctx, `document.getElementById("people-panel").hidePopover()`)
	})

	t.Run("a watcher sends no input", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("stage").focus()`)
		before := inputAtAgent(t, agentCtx)
		typeAndClick(t, ctx)
		eval[chromedp.Void](t, ctx, `window.dispatchEvent(new Event("blur"))`) // would send RELEASE_ALL
		settleHID(t, agentCtx)
		assert.Equal(t, before, inputAtAgent(t, agentCtx), "input reached the agent from a console not in control")
		assert.False(t, eval[bool](t, ctx, `document.getElementById("stats").checkVisibility()`))
		// The page's own shortcuts still work while watching.
		for _, k := range []struct {
			typ       input.DispatchKeyEventType
			code, key string
			vk, mods  int64
		}{
			{input.DispatchKeyEventTypeRawKeyDown, "KeyS", "S", 83, 11},
			{input.DispatchKeyEventTypeKeyUp, "KeyS", "S", 83, 11},
		} {
			key(t, ctx, k.typ, k.code, k.key, k.vk, k.mods, false)
		}
		waitJS(t, ctx, `document.getElementById("stats").checkVisibility()`, 5*time.Second)
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-stats").click()`)
		sharedShot(t, ctx, "watching")
	})

	t.Run("power, screens and consent are the controller's", func(t *testing.T) {
		relay.toConsole(t, "power", map[string]any{"state": "on", "actions": []string{"reset", "off"}})
		relay.toConsole(t, "displays", map[string]any{"displays": []map[string]any{{"index": 0, "current": true}, {"index": 1}}})
		waitJS(t, ctx, `document.getElementById("btn-power").checkVisibility() && document.getElementById("display-select").checkVisibility()`, 5*time.Second)
		for _, id := range []string{"btn-power", "display-select"} {
			assert.True(t, eval[bool](t, ctx, fmt.Sprintf(`document.getElementById(%q).disabled`, id)), "%s while watching", id)
			assert.Contains(t, eval[string](t, ctx, fmt.Sprintf(`document.getElementById(%q).title`, id)), "only the person in control can use this (Bob Chen is in control)")
		}
		relay.toConsole(t, "consent", map[string]any{"state": "required", "expires_at": time.Now().Add(5 * time.Minute).UTC().Format(time.RFC3339)})
		waitJS(t, ctx, `document.getElementById("consent-dialog").open`, 5*time.Second)
		assert.True(t, eval[bool](t, ctx, `document.getElementById("consent-code").disabled`))
		assert.True(t, eval[bool](t, ctx, `document.getElementById("consent-submit").disabled`))
		assert.Equal(t, "Only the person in control can enter the code: Bob Chen is in control.", text(t, ctx, "consent-watch"))
		sharedShot(t, ctx, "consent-watching")
		relay.toConsole(t, "consent", map[string]any{"state": "none"})
		waitJS(t, ctx, `!document.getElementById("consent-dialog").open`, 5*time.Second)
	})

	t.Run("request control and wait", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-request").click()`)
		waitFor(t, "the request", func() bool { _, n := relay.lastControl(t); return n == 1 })
		c, _ := relay.lastControl(t)
		assert.Equal(t, wire.Control{Action: wire.ControlRequest}, c)
		require.NoError(t, c.Check())

		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantControl),
			Controller:   bobSID,
			Request:      &wire.PendingRequest{From: testSID, ExpiresAt: time.Now().Add(25 * time.Second).UnixMilli()},
			Event:        &wire.RosterEvent{Kind: wire.EventRequested, Subject: testSID},
		})
		waitJS(t, ctx, `window.kvm.controlBar === "waiting"`, 5*time.Second)
		waitToast(t, ctx, "You asked Bob Chen for control")
		assert.Equal(t, "Waiting for Bob Chen…", text(t, ctx, "control-text"))
		assert.Regexp(t, regexp.MustCompile(`^\((2[0-5]) s\)$`), text(t, ctx, "control-left"))
		assert.True(t, visible(t, ctx, "btn-cancel-request"))
		assert.False(t, visible(t, ctx, "btn-request"), "one request at a time")
		// The countdown runs.
		first := text(t, ctx, "control-left")
		waitJS(t, ctx, fmt.Sprintf(`document.getElementById("control-left").innerText !== %q`, first), 3*time.Second)
		sharedShot(t, ctx, "waiting")

		eval[chromedp.Void](t, ctx, `document.getElementById("btn-cancel-request").click()`)
		waitFor(t, "the cancel", func() bool { _, n := relay.lastControl(t); return n == 2 })
		c, _ = relay.lastControl(t)
		assert.Equal(t, wire.Control{Action: wire.ControlCancel}, c)
	})

	t.Run("control granted: input flows without a new connection", func(t *testing.T) {
		beforeGrant := len(inputAtAgent(t, agentCtx))
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantControl),
			Controller:   testSID,
			Event:        &wire.RosterEvent{Kind: wire.EventGranted, By: bobSID, Subject: testSID},
		})
		waitJS(t, ctx, `window.kvm.inControl === true`, 5*time.Second)
		waitToast(t, ctx, "Bob Chen gave you control")
		assert.Equal(t, "hidden", eval[string](t, ctx, `window.kvm.controlBar`))
		assert.False(t, visible(t, ctx, "control-bar"))
		for _, id := range []string{"btn-cad", "btn-keys", "btn-paste", "btn-mouse", "btn-power", "display-select"} {
			assert.False(t, eval[bool](t, ctx, fmt.Sprintf(`document.getElementById(%q).disabled`, id)), "%s in control", id)
			assert.NotContains(t, eval[string](t, ctx, fmt.Sprintf(`document.getElementById(%q).title`, id)), "only the person in control")
		}
		assert.Equal(t, "control", eval[string](t, ctx, `document.getElementById("btn-people").dataset.role`))

		eval[chromedp.Void](t, ctx, `document.getElementById("stage").focus()`)
		before := len(inputAtAgent(t, agentCtx))
		typeAndClick(t, ctx)
		waitFor(t, "the key, the click and the wheel", func() bool {
			got := inputAtAgent(t, agentCtx)[before:]
			return slices.Contains(got, "01 00 00 04") && slices.Contains(got, "03 00 01") &&
				slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "02 00") })
		})
		// The layout went out again: this console's paste is typed with its layout now.
		assert.True(t, slices.ContainsFunc(inputAtAgent(t, agentCtx)[beforeGrant:], func(m string) bool { return strings.HasPrefix(m, "08 ") }))
		assert.Equal(t, sessions, eval[int](t, agentCtx, `window.agent.sessions`), "control must not renegotiate")
	})

	t.Run("the controller answers a request", func(t *testing.T) {
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantControl),
			Controller:   testSID,
			Request:      &wire.PendingRequest{From: bobSID, ExpiresAt: time.Now().Add(30 * time.Second).UnixMilli()},
			Event:        &wire.RosterEvent{Kind: wire.EventRequested, Subject: bobSID},
		})
		waitJS(t, ctx, `window.kvm.controlBar === "prompt"`, 5*time.Second)
		assert.NotEqual(t, "Bob Chen asks for control", eval[string](t, ctx, `document.getElementById("toast").textContent`),
			"the prompt says it; a toast would say it twice")
		assert.Equal(t, "Bob Chen asks for control", text(t, ctx, "control-text"))
		assert.Equal(t, "assertive", eval[string](t, ctx, `document.getElementById("control-text").getAttribute("aria-live")`))
		assert.Regexp(t, regexp.MustCompile(`^(2\d|30) s left$`), text(t, ctx, "control-left"))
		assert.True(t, visible(t, ctx, "btn-approve"))
		assert.True(t, visible(t, ctx, "btn-decline"))
		assert.True(t, eval[bool](t, ctx, `window.kvm.inControl`), "a prompt does not stop the controller typing")
		sharedShot(t, ctx, "prompt")

		// Ctrl+Alt+Shift+M takes the keyboard to the prompt.
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyM", "M", 77, 11, false)
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyM", "M", 77, 11, false)
		waitJS(t, ctx, `document.activeElement?.id === "btn-approve"`, 5*time.Second)

		eval[chromedp.Void](t, ctx, `document.getElementById("btn-decline").click()`)
		waitFor(t, "the decline", func() bool { c, _ := relay.lastControl(t); return c.Action == wire.ControlDecline })
		c, _ := relay.lastControl(t)
		assert.Equal(t, wire.Control{Action: wire.ControlDecline, From: bobSID}, c)
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-approve").click()`)
		waitFor(t, "the approval", func() bool { c, _ := relay.lastControl(t); return c.Action == wire.ControlApprove })
		c, _ = relay.lastControl(t)
		assert.Equal(t, wire.Control{Action: wire.ControlApprove, From: bobSID}, c)
		require.NoError(t, c.Check())
		assert.True(t, eval[bool](t, ctx, `document.activeElement === document.getElementById("stage")`), "the focus goes back to the screen")
	})

	t.Run("pass and release", func(t *testing.T) {
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantControl),
			Controller:   testSID,
			Event:        &wire.RosterEvent{Kind: wire.EventDeclined, By: testSID, Subject: bobSID},
		})
		waitToast(t, ctx, "You declined Bob Chen's request")
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-people").click()`)
		waitJS(t, ctx, `document.getElementById("people-panel").matches(":popover-open")`, 5*time.Second)
		labels := eval[[]string](t, ctx, `[...document.querySelectorAll("#people-list [data-pass]")].map((b) => b.getAttribute("aria-label"))`)
		assert.Equal(t, []string{"Pass control to Bob Chen", "Pass control to Dave Okafor"}, labels, "control-capable others, not the view-only Carol")
		assert.True(t, visible(t, ctx, "panel-release"))
		sharedShot(t, ctx, "controller-panel")
		eval[chromedp.Void](t, ctx, `document.querySelector("#people-list [aria-label='Pass control to Dave Okafor']").click()`)
		waitFor(t, "the pass", func() bool { c, _ := relay.lastControl(t); return c.Action == wire.ControlPass })
		c, _ := relay.lastControl(t)
		assert.Equal(t, wire.Control{Action: wire.ControlPass, To: daveSID}, c)
		require.NoError(t, c.Check())

		eval[chromedp.Void](t, ctx, `document.getElementById("btn-people").click()`)
		waitJS(t, ctx, `document.getElementById("people-panel").matches(":popover-open")`, 5*time.Second)
		eval[chromedp.Void](t, ctx, `document.getElementById("panel-release").click()`)
		waitFor(t, "the release", func() bool { c, _ := relay.lastControl(t); return c.Action == wire.ControlRelease })
		eval[chromedp.Void](t, ctx, `document.getElementById("people-panel").hidePopover()`)
	})

	t.Run("losing control mid-keypress forgets the held key", func(t *testing.T) {
		eval[chromedp.Void](t, ctx, `document.getElementById("stage").focus()`)
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyD", "d", 68, 0, false)
		waitFor(t, "D down at the agent", func() bool { return slices.Contains(inputAtAgent(t, agentCtx), "01 01 00 07") })
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantControl),
			Controller:   daveSID,
			Event:        &wire.RosterEvent{Kind: wire.EventTaken, By: daveSID, Subject: testSID},
		})
		waitJS(t, ctx, `window.kvm.inControl === false`, 5*time.Second)
		waitToast(t, ctx, "Dave Okafor took control from you")
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyD", "d", 68, 0, false)
		settleHID(t, agentCtx)
		assert.NotContains(t, inputAtAgent(t, agentCtx), "01 00 00 07", "the agent releases the key; the console no longer may")
		assert.Equal(t, "Watching — Dave Okafor is in control", text(t, ctx, "control-text"))
	})

	t.Run("an admin takes control after confirming", func(t *testing.T) {
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantAdmin),
			Controller:   daveSID,
			Event:        &wire.RosterEvent{Kind: wire.EventRegranted, Subject: testSID, Reason: "role changed to admin"},
		})
		waitToast(t, ctx, "You can now take control: role changed to admin")
		waitJS(t, ctx, `document.getElementById("btn-take").checkVisibility()`, 5*time.Second)
		_, n := relay.lastControl(t)
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-take").click()`)
		waitJS(t, ctx, `document.getElementById("take-dialog").open`, 5*time.Second)
		assert.Equal(t, "Take control from Dave Okafor?", text(t, ctx, "take-title"))
		assert.Contains(t, text(t, ctx, "take-note"), "They will be told.")
		_, after := relay.lastControl(t)
		assert.Equal(t, n, after, "nothing is sent before the confirmation")
		sharedShot(t, ctx, "take")
		eval[chromedp.Void](t, ctx, `document.getElementById("take-confirm").click()`)
		waitFor(t, "the take", func() bool { c, _ := relay.lastControl(t); return c.Action == wire.ControlTake })
		assert.False(t, eval[bool](t, ctx, `document.getElementById("take-dialog").open`))
	})

	t.Run("view only", func(t *testing.T) {
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantView),
			Controller:   daveSID,
			Event:        &wire.RosterEvent{Kind: wire.EventRegranted, Subject: testSID},
		})
		waitToast(t, ctx, "You can now only watch (view only)")
		waitJS(t, ctx, `document.getElementById("control-text").innerText.startsWith("You are watching (view only)")`, 5*time.Second)
		assert.Equal(t, "You are watching (view only) — Dave Okafor is in control", text(t, ctx, "control-text"))
		for _, id := range []string{"btn-request", "btn-take", "btn-cancel-request"} {
			assert.False(t, visible(t, ctx, id), "%s for a view grant", id)
		}
		_, n := relay.lastControl(t)
		assert.False(t, eval[bool](t, ctx, `window.kvm.requestControl()`), "a view grant cannot ask")
		assert.False(t, eval[bool](t, ctx, `window.kvm.take()`))
		_, after := relay.lastControl(t)
		assert.Equal(t, n, after)

		eval[chromedp.Void](t, ctx, `document.getElementById("stage").focus()`)
		before := inputAtAgent(t, agentCtx)
		typeAndClick(t, ctx)
		settleHID(t, agentCtx)
		assert.Equal(t, before, inputAtAgent(t, agentCtx), "a view-only console sent input")
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-people").click()`)
		waitJS(t, ctx, `document.getElementById("people-panel").matches(":popover-open")`, 5*time.Second)
		assert.Contains(t, text(t, ctx, "people-note"), "You are watching (view only)")
		sharedShot(t, ctx, "view-only")
		eval[chromedp.Void](t, ctx, `document.getElementById("people-panel").hidePopover()`)
	})

	t.Run("test hooks", func(t *testing.T) {
		relay.sendRoster(t, wire.Roster{Participants: people(wire.GrantControl), Controller: bobSID})
		waitJS(t, ctx, `window.kvm.roster?.participants[0].grant === "control"`, 5*time.Second)
		r := eval[map[string]any](t, ctx, `window.kvm.roster`)
		assert.Equal(t, testSID, r["me"])
		assert.Equal(t, "Bob Chen", r["controller"])
		assert.False(t, eval[bool](t, ctx, `window.kvm.release()`), "only the controller releases")
		assert.False(t, eval[bool](t, ctx, `window.kvm.pass("Bob Chen")`), "only the controller passes")
		assert.True(t, eval[bool](t, ctx, `window.kvm.requestControl()`))
		waitFor(t, "the hook's request", func() bool { c, _ := relay.lastControl(t); return c.Action == wire.ControlRequest })

		relay.sendRoster(t, wire.Roster{Participants: people(wire.GrantControl), Controller: testSID})
		waitJS(t, ctx, `window.kvm.inControl`, 5*time.Second)
		assert.False(t, eval[bool](t, ctx, `window.kvm.pass("Carol Diaz")`), "a view grant cannot hold control")
		assert.True(t, eval[bool](t, ctx, `window.kvm.pass("Bob Chen")`))
		c, _ := relay.lastControl(t)
		waitFor(t, "the hook's pass", func() bool { c, _ = relay.lastControl(t); return c.Action == wire.ControlPass })
		assert.Equal(t, wire.Control{Action: wire.ControlPass, To: bobSID}, c)
	})

	t.Run("names stay text", func(t *testing.T) {
		hostile := `<img src=x onerror="window.__pwned=2">`
		relay.sendRoster(t, wire.Roster{
			Participants: people(wire.GrantControl, wire.Participant{SID: "s_eve", Name: hostile, Grant: wire.GrantControl}),
			Controller:   "s_eve",
			Event:        &wire.RosterEvent{Kind: wire.EventTaken, By: "s_eve", Subject: bobSID},
		})
		waitToast(t, ctx, hostile+" took control from Bob Chen")
		assert.Equal(t, "Watching — "+hostile+" is in control", text(t, ctx, "control-text"))
		assert.Equal(t, 0, eval[int](t, ctx, `document.querySelectorAll("img").length`))
		assert.False(t, eval[bool](t, ctx, `window.__pwned === 2`))
	})

	t.Run("an agent that goes away takes the roster along", func(t *testing.T) {
		relay.toConsole(t, "agent-status", map[string]any{"online": false})
		waitJS(t, ctx, `window.kvm.state === "waiting-agent"`, 5*time.Second)
		assert.Nil(t, eval[any](t, ctx, `window.kvm.roster`))
		assert.True(t, eval[bool](t, ctx, `window.kvm.inControl`))
		assert.False(t, visible(t, ctx, "btn-people"))
		assert.False(t, visible(t, ctx, "control-bar"))
	})

	log.drop("favicon")
	checkClean(t, ctx, log)
}
