package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/fasthttp/websocket"
)

// fakeRelay speaks the relay's side of docs/protocol.md §1 for one console session, and routes
// it to a fake agent (testdata/fakeagent, run in another tab). It is as strict as the real relay
// where the console is concerned: Origin, subprotocols, token, envelope version, sid.
type fakeRelay struct {
	t *testing.T

	mu           sync.Mutex
	origin       string // the only Origin a console WebSocket may come from
	console      *wsConn
	agent        *wsConn
	fromConsole  []envelope // every message the console sent, in order
	consoleConns int
	redeemed     bool
	token        string // the console token the relay accepts now (it refreshes it once)
	failWith     string // an error code to answer every console connection with
}

const (
	testCode       = "one-time-code"
	testToken      = "console-token"
	refreshedToken = "console-token-2"
	testSID        = "s_test"
	// hostileDevice is what a rogue agent might call itself (SECURITY.md item 12).
	hostileDevice = `lab-server-01 <img src=x onerror="window.__pwned=1">`
)

type envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	SID  string          `json:"sid,omitempty"`
	Data json.RawMessage `json:"data"`
}

// wsConn serializes writes, which gorilla-style connections require.
type wsConn struct {
	mu sync.Mutex
	c  *websocket.Conn
}

func (w *wsConn) send(typ, sid string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c.WriteJSON(envelope{V: 1, Type: typ, SID: sid, Data: raw})
}

func (r *fakeRelay) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /api/v1/console/redeem": http.HandlerFunc(r.redeem),
		"GET /ws/console":             http.HandlerFunc(r.serveConsole),
		"GET /ws/agent":               http.HandlerFunc(r.serveAgent),
		"GET /agent/":                 http.StripPrefix("/agent/", http.FileServer(http.Dir("testdata/fakeagent"))),
	}
}

func (r *fakeRelay) redeem(w http.ResponseWriter, req *http.Request) {
	var body struct{ Code string }
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.Code != testCode {
		http.Error(w, "bad code", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	again := r.redeemed
	r.redeemed = true
	r.mu.Unlock()
	if again {
		http.Error(w, "code already used", http.StatusGone)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token":      testToken,
		"device":     hostileDevice,
		"session":    testSID,
		"expires_at": time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339),
	})
}

func (r *fakeRelay) serveConsole(w http.ResponseWriter, req *http.Request) {
	// As the relay does, before upgrading: the Origin, then the token.
	r.mu.Lock()
	origin, token := r.origin, r.token
	r.mu.Unlock()
	if req.Header.Get("Origin") != origin {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	protos := websocket.Subprotocols(req)
	if !slices.Contains(protos, "kvmrelay.v1") || !slices.Contains(protos, "bearer."+token) {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{
		Subprotocols: []string{"kvmrelay.v1"},
		CheckOrigin:  func(*http.Request) bool { return true }, // checked above
	}
	c, err := up.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	conn := &wsConn{c: c}
	r.mu.Lock()
	r.console = conn
	r.consoleConns++
	first := r.consoleConns == 1
	agentOnline := r.agent != nil
	failWith := r.failWith
	r.mu.Unlock()

	conn.send("welcome", testSID, map[string]any{
		"sid": testSID, "device": hostileDevice, "ice_servers": []any{},
		"expires_at": time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339),
	})
	if failWith != "" {
		conn.send("error", testSID, map[string]any{"code": failWith, "message": "Ask an admin for access to this device."})
		c.Close()
		return
	}
	conn.send("agent-status", testSID, map[string]any{"online": agentOnline})
	if first {
		// Refresh the token at once: reconnecting must use the new one.
		r.mu.Lock()
		r.token = refreshedToken
		r.mu.Unlock()
		conn.send("token", testSID, map[string]any{
			"token": refreshedToken, "expires_at": time.Now().Add(20 * time.Minute).Unix(),
		})
	}
	for {
		var m envelope
		if err := c.ReadJSON(&m); err != nil {
			return
		}
		if m.V != 1 || m.SID != testSID {
			r.t.Errorf("console sent %+v: want v 1 and sid %s", m, testSID)
		}
		r.mu.Lock()
		r.fromConsole = append(r.fromConsole, m)
		agent := r.agent
		r.mu.Unlock()
		if agent == nil {
			continue
		}
		switch m.Type {
		case "join":
			var join struct {
				Codecs     []string `json:"codecs"`
				ForceRelay bool     `json:"force_relay"`
			}
			json.Unmarshal(m.Data, &join)
			agent.send("session-start", testSID, map[string]any{
				"ice_servers": []any{}, "codecs": join.Codecs, "force_relay": join.ForceRelay, "principal": "tester",
			})
		case "answer", "candidate", "bye":
			agent.send(m.Type, testSID, m.Data)
		}
	}
}

func (r *fakeRelay) serveAgent(w http.ResponseWriter, req *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	conn := &wsConn{c: c}
	r.mu.Lock()
	r.agent = conn
	console := r.console
	r.mu.Unlock()
	if console != nil {
		console.send("agent-status", testSID, map[string]any{"online": true})
	}
	for {
		var m envelope
		if err := c.ReadJSON(&m); err != nil {
			return
		}
		r.mu.Lock()
		console := r.console
		r.mu.Unlock()
		if console != nil && (m.Type == "offer" || m.Type == "candidate") {
			console.send(m.Type, testSID, m.Data)
		}
	}
}

// dropConsole closes the console's WebSocket as a relay restart would.
func (r *fakeRelay) dropConsole() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.console != nil {
		r.console.c.Close()
		r.console = nil
	}
}

// sent returns the messages of a type the console has sent so far.
func (r *fakeRelay) sent(typ string) []envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []envelope
	for _, m := range r.fromConsole {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

func (r *fakeRelay) connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.consoleConns
}

// originOf is scheme://host of a URL, as browsers send it in Origin.
func originOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s://%s", u.Scheme, strings.ToLower(u.Host))
}

// currentToken is the console token the relay accepts now.
func (r *fakeRelay) currentToken() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.token
}

// TestConsoleEndToEnd runs the console against the fake relay and a fake agent in a second tab
// of the same Chromium: link redemption, signaling, WebRTC with a real video track and data
// channels, keyboard and mouse as trusted input events, the latency strip, paste, combinations,
// reconnecting after the relay drops the socket, and disconnecting.
func TestConsoleEndToEnd(t *testing.T) {
	relay, srv := startRelay(t)
	ctx, log := openBrowser(t)

	// The console first, while the device's agent is offline.
	do(t, ctx, chromedp.EmulateViewport(1280, 720))
	navigate(t, ctx, srv.URL+"/console/#code="+testCode)
	waitJS(t, ctx, `window.kvm.state === "waiting-agent"`, 10*time.Second)

	// The agent comes online, in a second tab.
	agentCtx, closeAgent := chromedp.NewContext(ctx)
	t.Cleanup(closeAgent)
	// The first run opens the tab, which lives as long as that run's context: no timeout here.
	if err := chromedp.Do(agentCtx); err != nil {
		t.Fatal(err)
	}
	agentCtx = context.WithValue(agentCtx, pageLogKey{}, &pageLog{})
	navigateUntil(t, agentCtx, srv.URL+"/agent/", `window.agent !== undefined`)
	agentHID := func(prefix string) []string {
		return eval[[]string](t, agentCtx, fmt.Sprintf(`window.agent.hid.filter((m) => m.startsWith(%q))`, prefix))
	}

	waitJS(t, ctx, `window.kvm.state === "connected" && window.kvm.framesDecoded > 0`, 30*time.Second)
	if _, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	eval[chromedp.Void](t, ctx, `document.getElementById("stage").focus()`)

	t.Run("link and token", func(t *testing.T) {
		if hash := eval[string](t, ctx, `location.hash`); hash != "" {
			t.Errorf("location.hash = %q: the one-time code is still in the address bar", hash)
		}
		if !eval[bool](t, ctx, `sessionStorage.getItem("kvmrelay.console")?.includes("`+refreshedToken+`") ?? false`) {
			t.Error("the refreshed token is not kept for a reload of the tab")
		}
		// One join at the welcome (the agent was offline), one when it came online.
		joins := relay.sent("join")
		if len(joins) != 2 {
			t.Fatalf("console sent %d joins, want 2", len(joins))
		}
		var join struct {
			Codecs     []string `json:"codecs"`
			ForceRelay *bool    `json:"force_relay"`
		}
		if err := json.Unmarshal(joins[0].Data, &join); err != nil {
			t.Fatal(err)
		}
		if len(join.Codecs) == 0 || join.ForceRelay == nil || *join.ForceRelay {
			t.Errorf("join = %s, want codecs and force_relay false", joins[0].Data)
		}
		for _, c := range join.Codecs {
			if c != "video/H264" && c != "video/VP8" {
				t.Errorf("join offers codec %q", c)
			}
		}
	})

	t.Run("hostile device name stays text", func(t *testing.T) {
		if got := eval[string](t, ctx, `document.getElementById("device-name").textContent`); got != hostileDevice {
			t.Errorf("device name shown as %q, want %q verbatim", got, hostileDevice)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("img").length`); n != 0 {
			t.Errorf("the device name became markup: %d <img> in the page", n)
		}
		if eval[bool](t, ctx, `window.__pwned === 1`) {
			t.Error("the device name ran script")
		}
	})

	t.Run("keys", func(t *testing.T) {
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyA", "a", 65, 0, false)
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyA", "a", 65, 0, true) // auto-repeat: not sent
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyA", "a", 65, 0, false)
		waitFor(t, "KeyA up at the agent", func() bool { return slices.Contains(agentHID("01"), "01 00 00 04") })
		if got := agentHID("01"); !slices.Equal(got, []string{"01 01 00 04", "01 00 00 04"}) {
			t.Errorf("agent got key messages %q, want one down and one up of usage 0x04", got)
		}
		time.Sleep(time.Second)
		if n := len(agentHID("04")); n < 3 {
			t.Errorf("agent got %d keep-alives in over a second, want one every 200 ms", n)
		}
	})

	t.Run("local shortcut stays local", func(t *testing.T) {
		before := len(agentHID("01"))
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "ControlLeft", "Control", 17, 2, false)
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "AltLeft", "Alt", 18, 3, false)
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "ShiftLeft", "Shift", 16, 11, false)
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyS", "S", 83, 11, false)
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyS", "S", 83, 11, false)
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "ShiftLeft", "Shift", 16, 3, false)
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "AltLeft", "Alt", 18, 2, false)
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "ControlLeft", "Control", 17, 0, false)
		waitJS(t, ctx, `document.getElementById("stats").checkVisibility()`, 5*time.Second)
		waitFor(t, "the modifiers' key-ups", func() bool { return len(agentHID("01")) >= before+6 })
		for _, m := range agentHID("01")[before:] {
			if strings.HasSuffix(m, " 16") {
				t.Errorf("the S of the stats shortcut reached the remote: %s", m)
			}
		}
	})

	t.Run("pointer", func(t *testing.T) {
		mouse(t, ctx, input.DispatchMouseEventTypeMouseMoved, 640, 360, input.MouseButtonNone, 0)
		waitFor(t, "a pointer move", func() bool {
			p := eval[[]string](t, agentCtx, `window.agent.pointer`)
			return len(p) > 0 && strings.HasSuffix(p[len(p)-1], "00 40 00 40 00")
		})
		mouse(t, ctx, input.DispatchMouseEventTypeMousePressed, 320, 540, input.MouseButtonLeft, 1)
		mouse(t, ctx, input.DispatchMouseEventTypeMouseReleased, 320, 540, input.MouseButtonLeft, 0)
		// 320 of 1280 and 540 of 720: a quarter across, three quarters down.
		waitFor(t, "the click", func() bool { return len(agentHID("02")) >= 2 })
		if got := agentHID("02"); !slices.Equal(got[:2], []string{"02 01 20 00 5f ff", "02 00 20 00 5f ff"}) {
			t.Errorf("agent got buttons %q, want left down and up at (8192, 24575)", got)
		}
		mouse(t, ctx, input.DispatchMouseEventTypeMouseWheel, 640, 360, input.MouseButtonNone, 0, 100)
		waitFor(t, "a wheel step", func() bool { return slices.Contains(agentHID("03"), "03 00 01") })
	})

	t.Run("latency strip", func(t *testing.T) {
		for range 8 {
			key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyB", "b", 66, 0, false)
			key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyB", "b", 66, 0, false)
			time.Sleep(150 * time.Millisecond)
		}
		waitJS(t, ctx, `window.kvm.latencySamples.length >= 4`, 10*time.Second)
		keyDowns := eval[int](t, agentCtx, `window.agent.keyDowns`)
		waitJS(t, ctx, fmt.Sprintf(`window.kvm.stripCount === %d`, keyDowns), 5*time.Second)
		for _, ms := range eval[[]float64](t, ctx, `window.kvm.latencySamples`) {
			if ms <= 0 || ms > 2000 {
				t.Errorf("latency sample %.1f ms is not plausible", ms)
			}
		}
		waitJS(t, ctx, `document.querySelector("[data-row=latency]").checkVisibility()`, 5*time.Second)
		t.Logf("latency samples: %v ms", eval[[]float64](t, ctx, `window.kvm.latencySamples.map(Math.round)`))
	})

	t.Run("stats", func(t *testing.T) {
		waitJS(t, ctx, `window.kvm.stats?.width === 1280 && window.kvm.stats?.path === "direct"`, 5*time.Second)
		s := eval[map[string]any](t, ctx, `window.kvm.stats`)
		for _, k := range []string{"codec", "rttMs", "bitrateKbps", "fpsDecoded"} {
			if s[k] == nil {
				t.Errorf("stats.%s is missing: %v", k, s)
			}
		}
	})

	t.Run("combination", func(t *testing.T) {
		before := len(agentHID("01"))
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-cad").click()`)
		waitFor(t, "Ctrl+Alt+Del", func() bool { return len(agentHID("01")) >= before+6 })
		want := []string{"01 01 00 e0", "01 01 00 e2", "01 01 00 4c", "01 00 00 4c", "01 00 00 e2", "01 00 00 e0"}
		if got := agentHID("01")[before:]; !slices.Equal(got, want) {
			t.Errorf("Ctrl+Alt+Del sent %q, want %q", got, want)
		}
	})

	t.Run("paste", func(t *testing.T) {
		before := len(agentHID("01"))
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-paste").click()`)
		do(t, ctx, chromedp.SendKeys(chromedp.ID("paste-text"), "echo hé"))
		eval[chromedp.Void](t, ctx, `document.getElementById("paste-send").click()`)
		waitFor(t, "the text", func() bool { return len(agentHID("06")) > 0 })
		if got := agentHID("06"); !slices.Equal(got, []string{"06 65 63 68 6f 20 68 c3 a9"}) {
			t.Errorf("agent got %q, want one TEXT message with \"echo hé\"", got)
		}
		if got := agentHID("01")[before:]; len(got) > 0 {
			t.Errorf("typing in the paste dialog reached the remote as keys: %q", got)
		}
		if !eval[bool](t, ctx, `document.activeElement === document.getElementById("stage")`) {
			t.Error("the keyboard focus did not return to the screen after the dialog")
		}
	})

	t.Run("release on blur", func(t *testing.T) {
		before := len(agentHID("05"))
		eval[chromedp.Void](t, ctx, `window.dispatchEvent(new Event("blur"))`)
		waitFor(t, "RELEASE_ALL", func() bool { return len(agentHID("05")) > before })
	})

	mouse(t, ctx, input.DispatchMouseEventTypeMouseMoved, 640, 8, input.MouseButtonNone, 0)
	waitJS(t, ctx, `document.body.classList.contains("toolbar-shown")`, 5*time.Second)
	time.Sleep(400 * time.Millisecond) // the toolbar's slide-in
	screenshot(t, ctx, "/tmp/web-console-live.png")

	t.Run("reconnect", func(t *testing.T) {
		relay.dropConsole()
		waitJS(t, ctx, `window.kvm.state === "reconnecting"`, 5*time.Second)
		time.Sleep(300 * time.Millisecond) // the overlay's fade-in
		screenshot(t, ctx, "/tmp/web-console-reconnecting.png")
		waitJS(t, ctx, `window.kvm.state === "connected"`, 30*time.Second)
		if n := relay.connections(); n != 2 {
			t.Errorf("console opened %d WebSockets, want 2", n)
		}
		if n := len(relay.sent("join")); n != 3 {
			t.Errorf("console sent %d joins, want a third one after reconnecting", n)
		}
		before := len(agentHID("01"))
		key(t, ctx, input.DispatchKeyEventTypeRawKeyDown, "KeyC", "c", 67, 0, false)
		key(t, ctx, input.DispatchKeyEventTypeKeyUp, "KeyC", "c", 67, 0, false)
		waitFor(t, "a key over the new connection", func() bool {
			return slices.Contains(agentHID("01")[before:], "01 00 00 06")
		})
	})

	t.Run("disconnect", func(t *testing.T) {
		before := len(agentHID("05"))
		eval[chromedp.Void](t, ctx, `document.getElementById("btn-disconnect").click()`)
		waitJS(t, ctx, `window.kvm.state === "closed"`, 5*time.Second)
		waitFor(t, "bye", func() bool { return len(relay.sent("bye")) == 1 })
		if len(agentHID("05")) == before {
			t.Error("disconnecting did not release the keys first")
		}
		if eval[bool](t, ctx, `sessionStorage.getItem("kvmrelay.console") !== null`) {
			t.Error("the token outlived the session")
		}
	})

	log.drop("favicon")
	checkClean(t, ctx, log)
}

// startRelay serves the console and the fake relay, plus extra routes (a fake API) if any.
func startRelay(t *testing.T, extra ...map[string]http.Handler) (*fakeRelay, *httptest.Server) {
	relay := &fakeRelay{t: t, token: testToken}
	routes := relay.routes()
	for _, m := range extra {
		for k, v := range m {
			routes[k] = v
		}
	}
	srv := serveConsole(t, routes)
	relay.mu.Lock()
	relay.origin = originOf(t, srv.URL)
	relay.mu.Unlock()
	return relay, srv
}

// TestConsoleRelayError: an error the relay sends is shown, and one that retrying cannot fix
// stops the console instead of reconnecting.
func TestConsoleRelayError(t *testing.T) {
	relay, srv := startRelay(t)
	relay.failWith = "forbidden"
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/#code="+testCode)
	waitJS(t, ctx, `window.kvm.state === "failed"`, 10*time.Second)
	if got := eval[map[string]any](t, ctx, `window.kvm.lastError`); got["code"] != "forbidden" {
		t.Errorf("lastError = %v, want code forbidden", got)
	}
	if text := eval[string](t, ctx, `document.getElementById("overlay").innerText`); !strings.Contains(text, "Ask an admin") {
		t.Errorf("the relay's message is not shown: %q", text)
	}
	time.Sleep(time.Second)
	if n := relay.connections(); n != 1 {
		t.Errorf("console connected %d times after a forbidden error, want no retries", n)
	}
	checkClean(t, ctx, log)
}

// waitFor polls a Go condition.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// key dispatches a trusted key event. modifiers: Alt 1, Ctrl 2, Meta 4, Shift 8.
func key(t *testing.T, ctx context.Context, typ input.DispatchKeyEventType, code, k string, vk, modifiers int64, repeat bool) {
	t.Helper()
	p := input.DispatchKeyEventParams{Type: typ, Code: code, Key: k, WindowsVirtualKeyCode: vk, Modifiers: modifiers}
	if repeat {
		p.AutoRepeat = &repeat
	}
	if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, p); err != nil {
		t.Fatal(err)
	}
}

// mouse dispatches a trusted mouse event; buttons is the mask held after it, delta the wheel's.
func mouse(t *testing.T, ctx context.Context, typ input.DispatchMouseEventType, x, y float64, b input.MouseButton, buttons int64, delta ...float64) {
	t.Helper()
	p := input.DispatchMouseEventParams{Type: typ, X: x, Y: y, Button: b, Buttons: buttons, ClickCount: 1}
	if len(delta) > 0 {
		// The protocol wants deltaX with deltaY, and a zero would be left out of the message.
		p.DeltaX, p.DeltaY = 1e-9, delta[0]
	}
	if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, p); err != nil {
		t.Fatal(err)
	}
}
