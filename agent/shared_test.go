package agent

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/hidtest"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// sentMsg is one message the agent sent the relay.
type sentMsg struct {
	sid  string
	typ  wire.Type
	data any
}

// relayRecorder is the relay end of the agent's signaling connection: it records what the
// agent sends and checks every shared-session message against the contract.
type relayRecorder struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []sentMsg
	// refuseKeys makes keys messages fail as on a connection that cannot keep up.
	refuseKeys bool
}

func (r *relayRecorder) Send(typ wire.Type, sid string, data any) error {
	raw, err := wire.Encode(typ, sid, data)
	require.NoError(r.t, err)
	env, err := wire.Decode(raw)
	require.NoError(r.t, err, "the relay could not read %s", typ)
	switch typ {
	case wire.TypeRoster:
		var ros wire.Roster
		require.NoError(r.t, wire.DecodeData(env, &ros))
		assert.NoError(r.t, ros.Check())
	case wire.TypeControlEvent:
		var e wire.RosterEvent
		require.NoError(r.t, wire.DecodeData(env, &e))
		assert.NoError(r.t, wire.CheckControlEvent(e))
		assert.Equal(r.t, e.Subject, sid, "a control event goes under its subject's sid")
	case wire.TypeInputBurst:
		var b wire.InputBurst
		require.NoError(r.t, wire.DecodeData(env, &b))
		assert.NoError(r.t, b.Check())
	case wire.TypeKeys:
		var k wire.Keys
		require.NoError(r.t, wire.DecodeData(env, &k))
		assert.NoError(r.t, k.Check())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if typ == wire.TypeKeys && r.refuseKeys {
		return errors.New("send queue full")
	}
	r.msgs = append(r.msgs, sentMsg{sid: sid, typ: typ, data: data})
	return nil
}

// take returns what was sent since the last take.
func (r *relayRecorder) take() []sentMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

// rostersOf returns the rosters each session got, by sid.
func rostersOf(msgs []sentMsg) map[string][]wire.Roster {
	out := map[string][]wire.Roster{}
	for _, m := range msgs {
		if m.typ == wire.TypeRoster {
			out[m.sid] = append(out[m.sid], m.data.(wire.Roster))
		}
	}
	return out
}

// controlEvents returns the control events sent for audit.
func controlEvents(msgs []sentMsg) []wire.RosterEvent {
	var out []wire.RosterEvent
	for _, m := range msgs {
		if m.typ == wire.TypeControlEvent {
			out = append(out, m.data.(wire.RosterEvent))
		}
	}
	return out
}

// bursts returns the input bursts sent, with the sid each went under.
func bursts(msgs []sentMsg) map[string][]wire.InputBurst {
	out := map[string][]wire.InputBurst{}
	for _, m := range msgs {
		if m.typ == wire.TypeInputBurst {
			out[m.sid] = append(out[m.sid], m.data.(wire.InputBurst))
		}
	}
	return out
}

// powerSource is a machine that switches power and has two screens; it never connects.
type powerSource struct {
	fakeSource
	mu       sync.Mutex
	actions  []device.PowerAction
	selected []int
}

func (p *powerSource) PowerState(context.Context) (device.PowerState, error) {
	return device.PowerOn, nil
}

func (p *powerSource) Power(_ context.Context, action device.PowerAction) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.actions = append(p.actions, action)
	return nil
}

func (p *powerSource) Displays(context.Context) ([]device.Display, error) {
	return []device.Display{{Index: 0, Width: 1920, Height: 1080, Current: true}, {Index: 1, Width: 1280, Height: 1024}}, nil
}

func (p *powerSource) SelectDisplay(i int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.selected = append(p.selected, i)
	return nil
}

// sharedHarness is an agent serving one machine to console sessions made as startSession
// makes them, without their peer connections: each has its seat and dispatcher, is on the
// machine's roster, and ends through session.end.
type sharedHarness struct {
	a       *Agent
	m       *machine
	src     *powerSource
	sink    *hidtest.Recorder
	clock   *hidtest.Clock
	relay   *relayRecorder
	metrics *Metrics
	d       map[string]*hid.Dispatcher
	s       map[string]*session
}

const (
	testRequestTimeout = 5 * time.Second
	testBurstInterval  = 10 * time.Second
)

func newSharedHarness(t *testing.T) *sharedHarness {
	t.Helper()
	h := &sharedHarness{src: &powerSource{fakeSource: fakeSource{name: "kvm"}}, sink: hidtest.NewRecorder(), clock: hidtest.NewClock(),
		relay: &relayRecorder{t: t}, metrics: NewMetrics(nil), d: map[string]*hid.Dispatcher{}, s: map[string]*session{}}
	a, err := New(Config{Server: "http://127.0.0.1:1", Token: "t", Source: h.src, Input: h.sink, HIDClock: h.clock,
		ControlRequestTimeout: testRequestTimeout, InputBurstInterval: testBurstInterval, Metrics: h.metrics, Consent: device.NewConsent(),
		NewEncoder: func(media.EncoderConfig) (media.Encoder, error) { return nil, errors.New("unused") }})
	require.NoError(t, err)
	a.relay.Store(&relayLink{h.relay})
	h.a, h.m = a, a.own
	t.Cleanup(func() {
		for _, s := range h.s {
			s.end("test over")
		}
		a.wg.closeAndWait()
		h.m.close()
	})
	return h
}

// join starts a console session on the machine as startSession and session.setup do.
func (h *sharedHarness) join(t *testing.T, sid, name string, grant wire.Grant) {
	t.Helper()
	h.joinWith(t, sid, name, grant, false)
}

// joinWith is join for a session whose session-start may ask for its keys.
func (h *sharedHarness) joinWith(t *testing.T, sid, name string, grant wire.Grant, captureKeys bool) {
	t.Helper()
	seat, err := h.m.arb.Seat(sid)
	require.NoError(t, err)
	if captureKeys {
		h.m.floor.tapKeys(seat)
	}
	d, err := hid.NewDispatcher(hid.Config{Seat: seat, Clock: h.clock})
	require.NoError(t, err)
	s := &session{sid: sid, machine: h.m, log: slog.Default(), hid: d, release: func() {}, onEnd: h.a.forget, started: time.Now()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	h.a.mu.Lock()
	h.a.sessions[sid] = s
	h.a.mu.Unlock()
	require.NoError(t, h.m.floor.join(sid, name, grant))
	h.d[sid], h.s[sid] = d, s
}

// handle delivers a relay message to the agent, through the wire.
func (h *sharedHarness) handle(t *testing.T, typ wire.Type, sid string, data any) {
	t.Helper()
	raw, err := wire.Encode(typ, sid, data)
	require.NoError(t, err)
	env, err := wire.Decode(raw)
	require.NoError(t, err)
	h.a.handle(context.Background(), env)
}

func (h *sharedHarness) control(t *testing.T, sid, action, other string) {
	t.Helper()
	c := wire.Control{Action: action}
	switch action {
	case wire.ControlApprove, wire.ControlDecline:
		c.From = other
	case wire.ControlPass:
		c.To = other
	}
	h.handle(t, wire.TypeControl, sid, c)
}

func (h *sharedHarness) key(t *testing.T, sid string, u hid.Usage, down bool) {
	t.Helper()
	b, err := hid.Encode(hid.KeyMsg{Usage: u, Down: down})
	require.NoError(t, err)
	h.d[sid].HandleHID(b)
}

// pass lets d go by while every console sends its keep-alives, as consoles do every 200 ms:
// held keys stay held.
func (h *sharedHarness) pass(d time.Duration) {
	const step = 200 * time.Millisecond
	for ; d > 0; d -= step {
		h.clock.Advance(min(step, d))
		for _, disp := range h.d {
			disp.HandleHID([]byte{byte(hid.TypeKeepAlive)})
		}
	}
}

func (h *sharedHarness) controller() string {
	h.m.floor.mu.Lock()
	defer h.m.floor.mu.Unlock()
	return h.m.floor.controller
}

func (h *sharedHarness) dropped() float64 {
	return testutil.ToFloat64(h.metrics.InputDropped.WithLabelValues("not-controller"))
}

// TestSharedJoin: who joins is told to everyone; the first control-capable participant of a
// free machine gets control, viewers and later ones do not; names and grants are cleaned.
func TestSharedJoin(t *testing.T) {
	h := newSharedHarness(t)
	h.join(t, "v", "", wire.GrantView)
	msgs := h.relay.take()
	assert.Equal(t, map[string][]wire.Roster{"v": {{
		Participants: []wire.Participant{{SID: "v", Name: "someone", Grant: wire.GrantView}},
		Event:        &wire.RosterEvent{Kind: wire.EventJoined, Subject: "v"},
	}}}, rostersOf(msgs), "a viewer does not get control")
	assert.Empty(t, controlEvents(msgs), "the relay audits joins itself")

	h.join(t, "a", "ada@example.com", "") // an older relay: control
	msgs = h.relay.take()
	everyone := []wire.Participant{{SID: "v", Name: "someone", Grant: wire.GrantView}, {SID: "a", Name: "ada@example.com", Grant: wire.GrantControl}}
	granted := wire.RosterEvent{Kind: wire.EventGranted, Subject: "a"}
	want := wire.Roster{Participants: everyone, Controller: "a", Event: &granted}
	assert.Equal(t, map[string][]wire.Roster{"v": {want}, "a": {want}}, rostersOf(msgs))
	assert.Equal(t, []wire.RosterEvent{granted}, controlEvents(msgs))

	h.clock.Advance(time.Second)
	h.join(t, "b", "bob\x1b[31m\u202e"+strings.Repeat("é", 100), "root") // unknown grant: watches
	msgs = h.relay.take()
	r := rostersOf(msgs)["b"]
	require.Len(t, r, 1)
	assert.Equal(t, "a", r[0].Controller, "control stays")
	assert.Equal(t, wire.Participant{SID: "b", Name: "bob[31m" + strings.Repeat("é", 60), Grant: wire.GrantView}, r[0].Participants[2])
	assert.Len(t, rostersOf(msgs), 3, "everyone is told")
}

// TestSharedViewerInputDropped: a viewer's keys never reach the machine and are counted;
// the controller's do.
func TestSharedViewerInputDropped(t *testing.T) {
	h := newSharedHarness(t)
	h.join(t, "a", "ada", wire.GrantControl)
	h.join(t, "b", "bob", wire.GrantControl)
	h.join(t, "v", "vic", wire.GrantView)
	for _, sid := range []string{"b", "v"} {
		h.key(t, sid, hid.UsageLeftCtrl, true)
		h.key(t, sid, hid.UsageDelete, true)
		h.d[sid].HandleHID([]byte{byte(hid.TypeText), 'x'})
	}
	assert.Empty(t, h.sink.Events())
	assert.InDelta(t, 6, h.dropped(), 0)
	assert.EqualValues(t, 3, h.d["v"].Stats().HID.Dropped[hid.DropNotController].Load())
	h.key(t, "a", hid.UsageA, true)
	assert.Equal(t, []hidtest.Event{hidtest.Down(hid.UsageA)}, h.sink.Events())
}

// TestSharedHandoff plays the moves of the handoff: a (control) holds control with Ctrl
// held and a pointer event, b may control, c is an admin, v watches. Each case checks who
// controls after, the control events audited, the event everyone's roster shows, that the
// former controller's Ctrl is released before the new one's first key, and the former's
// final input burst.
func TestSharedHandoff(t *testing.T) {
	type move struct{ sid, action, other string }
	ev := func(kind, by, subject string) wire.RosterEvent {
		return wire.RosterEvent{Kind: kind, By: by, Subject: subject}
	}
	for _, tc := range []struct {
		name   string
		moves  []move
		want   string // the controller after
		events []wire.RosterEvent
		// refused is the session whose last move was refused: it alone gets a roster, with no
		// event, for it.
		refused string
	}{
		{name: "request and approve", moves: []move{{"b", wire.ControlRequest, ""}, {"a", wire.ControlApprove, "b"}}, want: "b",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b"), ev(wire.EventGranted, "a", "b")}},
		{name: "request and decline", moves: []move{{"b", wire.ControlRequest, ""}, {"a", wire.ControlDecline, "b"}}, want: "a",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b"), ev(wire.EventDeclined, "a", "b")}},
		{name: "request and cancel", moves: []move{{"b", wire.ControlRequest, ""}, {"b", wire.ControlCancel, ""}}, want: "a",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b"), ev(wire.EventCancelled, "b", "b")}},
		{name: "pass", moves: []move{{"a", wire.ControlPass, "b"}}, want: "b",
			events: []wire.RosterEvent{ev(wire.EventGranted, "a", "b")}},
		{name: "release", moves: []move{{"a", wire.ControlRelease, ""}}, want: "",
			events: []wire.RosterEvent{ev(wire.EventReleased, "a", "a")}},
		{name: "release to the pending request", moves: []move{{"b", wire.ControlRequest, ""}, {"a", wire.ControlRelease, ""}}, want: "b",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b"), ev(wire.EventReleased, "a", "a"), ev(wire.EventGranted, "", "b")}},
		{name: "release, then a request is granted at once", moves: []move{{"a", wire.ControlRelease, ""}, {"b", wire.ControlRequest, ""}}, want: "b",
			events: []wire.RosterEvent{ev(wire.EventReleased, "a", "a"), ev(wire.EventGranted, "", "b")}},
		{name: "admin takes", moves: []move{{"c", wire.ControlTake, ""}}, want: "c",
			events: []wire.RosterEvent{ev(wire.EventTaken, "c", "a")}},
		{name: "admin takes while asking", moves: []move{{"c", wire.ControlRequest, ""}, {"c", wire.ControlTake, ""}}, want: "c",
			events: []wire.RosterEvent{ev(wire.EventRequested, "c", "c"), ev(wire.EventTaken, "c", "a")}},
		{name: "admin takes free control", moves: []move{{"a", wire.ControlRelease, ""}, {"c", wire.ControlTake, ""}}, want: "c",
			events: []wire.RosterEvent{ev(wire.EventReleased, "a", "a"), ev(wire.EventGranted, "", "c")}},

		{name: "viewer may not ask", moves: []move{{"v", wire.ControlRequest, ""}}, want: "a", refused: "v"},
		{name: "viewer may not take", moves: []move{{"v", wire.ControlTake, ""}}, want: "a", refused: "v"},
		{name: "operator may not take", moves: []move{{"b", wire.ControlTake, ""}}, want: "a", refused: "b"},
		{name: "controller asking again", moves: []move{{"a", wire.ControlRequest, ""}}, want: "a", refused: "a"},
		{name: "one request at a time", moves: []move{{"b", wire.ControlRequest, ""}, {"c", wire.ControlRequest, ""}}, want: "a", refused: "c",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b")}},
		{name: "only the controller approves", moves: []move{{"b", wire.ControlRequest, ""}, {"c", wire.ControlApprove, "b"}}, want: "a", refused: "c",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b")}},
		{name: "approve names the pending request", moves: []move{{"b", wire.ControlRequest, ""}, {"a", wire.ControlApprove, "c"}}, want: "a", refused: "a",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b")}},
		{name: "only the controller declines", moves: []move{{"b", wire.ControlRequest, ""}, {"b", wire.ControlDecline, "b"}}, want: "a", refused: "b",
			events: []wire.RosterEvent{ev(wire.EventRequested, "b", "b")}},
		{name: "cancel without a request", moves: []move{{"b", wire.ControlCancel, ""}}, want: "a", refused: "b"},
		{name: "no pass to a viewer", moves: []move{{"a", wire.ControlPass, "v"}}, want: "a", refused: "a"},
		{name: "no pass to a stranger", moves: []move{{"a", wire.ControlPass, "zz"}}, want: "a", refused: "a"},
		{name: "only the controller passes", moves: []move{{"b", wire.ControlPass, "c"}}, want: "a", refused: "b"},
		{name: "only the controller releases", moves: []move{{"b", wire.ControlRelease, ""}}, want: "a", refused: "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSharedHarness(t)
			h.join(t, "a", "ada", wire.GrantControl)
			h.join(t, "b", "bob", wire.GrantControl)
			h.join(t, "c", "cyd", wire.GrantAdmin)
			h.join(t, "v", "vic", wire.GrantView)
			h.key(t, "a", hid.UsageLeftCtrl, true)
			h.d["a"].HandleHID([]byte{byte(hid.TypeWheel), 0, 1})
			h.pass(2 * time.Second)
			h.relay.take()
			h.sink.Take()

			var msgs, last []sentMsg
			for _, m := range tc.moves {
				h.control(t, m.sid, m.action, m.other)
				last = h.relay.take()
				msgs = append(msgs, last...)
			}
			assert.Equal(t, tc.want, h.controller())
			assert.Equal(t, tc.events, controlEvents(msgs))

			rosters := rostersOf(last)
			if tc.refused != "" {
				require.Len(t, rosters, 1, "only the refused session is answered")
				require.Len(t, rosters[tc.refused], 1)
				assert.Nil(t, rosters[tc.refused][0].Event)
				assert.Equal(t, tc.want, rosters[tc.refused][0].Controller)
			} else {
				require.Len(t, rosters, 4, "everyone is told")
				for sid, rs := range rosters {
					require.Len(t, rs, 1, sid)
					assert.Equal(t, &tc.events[len(tc.events)-1], rs[0].Event, sid)
					assert.Equal(t, tc.want, rs[0].Controller, sid)
					assert.Nil(t, rs[0].Request, "no request left pending")
				}
			}

			// The held Ctrl: released at the change, before anyone else's key.
			h.sink.Take()
			for _, sid := range []string{"a", "b", "c", "v"} {
				h.key(t, sid, hid.UsageA+hid.Usage(sid[0]-'a'), true)
			}
			held, _ := h.m.arb.Held()
			if tc.want == "a" {
				assert.Equal(t, []hid.Usage{hid.UsageA, hid.UsageLeftCtrl}, held, "a still holds Ctrl and typed")
				assert.Empty(t, bursts(msgs), "control did not leave a")
				return
			}
			if tc.want == "" {
				assert.Empty(t, h.sink.Events(), "nobody in control: nobody's key reaches the machine")
			} else {
				assert.Equal(t, []hidtest.Event{hidtest.Down(hid.UsageA + hid.Usage(tc.want[0]-'a'))}, h.sink.Events(),
					"only the new controller's key")
			}
			pressed, _ := h.sink.Pressed()
			assert.False(t, pressed[hid.UsageLeftCtrl], "a's Ctrl was released")

			digest, err := hid.DigestEvents([]hid.Message{hid.KeyMsg{Usage: hid.UsageLeftCtrl, Down: true}, hid.WheelMsg{DY: 1}})
			require.NoError(t, err)
			start := hidtest.NewClock().Now()
			assert.Equal(t, map[string][]wire.InputBurst{"a": {{From: start.UnixMilli(), To: start.Add(2 * time.Second).UnixMilli(),
				Keys: 1, Pointer: 1, Digest: digest, Final: true}}}, bursts(msgs), "a's stretch of control, once")
		})
	}
}

// TestSharedRequestTimesOut: a request the controller does not answer drops after the
// timeout; everyone is told, and the requester may ask again.
func TestSharedRequestTimesOut(t *testing.T) {
	h := newSharedHarness(t)
	h.join(t, "a", "ada", wire.GrantControl)
	h.join(t, "b", "bob", wire.GrantControl)
	h.relay.take()
	h.control(t, "b", wire.ControlRequest, "")
	r := rostersOf(h.relay.take())["a"]
	require.Len(t, r, 1)
	assert.Equal(t, &wire.PendingRequest{From: "b", ExpiresAt: h.clock.Now().Add(testRequestTimeout).UnixMilli()}, r[0].Request)

	h.clock.Advance(testRequestTimeout - time.Millisecond)
	assert.Empty(t, h.relay.take())
	h.clock.Advance(time.Millisecond)
	msgs := h.relay.take()
	timedOut := wire.RosterEvent{Kind: wire.EventTimedOut, Subject: "b"}
	assert.Equal(t, []wire.RosterEvent{timedOut}, controlEvents(msgs))
	for _, sid := range []string{"a", "b"} {
		rs := rostersOf(msgs)[sid]
		require.Len(t, rs, 1)
		assert.Equal(t, &timedOut, rs[0].Event)
		assert.Nil(t, rs[0].Request)
	}
	assert.Equal(t, "a", h.controller())

	// An answered request's timer does nothing.
	h.control(t, "b", wire.ControlRequest, "")
	h.control(t, "a", wire.ControlDecline, "b")
	h.relay.take()
	h.clock.Advance(testRequestTimeout)
	assert.Empty(t, controlEvents(h.relay.take()))
}

// TestSharedGrantChanges: a controller whose grant is lowered to view gives control up at
// once, its held key released; a requester lowered loses its request; a grant raised only
// changes the roster.
func TestSharedGrantChanges(t *testing.T) {
	h := newSharedHarness(t)
	h.join(t, "a", "ada", wire.GrantControl)
	h.join(t, "b", "bob", wire.GrantControl)
	h.join(t, "v", "vic", wire.GrantView)
	h.key(t, "a", hid.UsageLeftCtrl, true)
	h.control(t, "b", wire.ControlRequest, "")
	h.relay.take()

	h.handle(t, wire.TypeGrant, "b", wire.GrantChange{Grant: wire.GrantView})
	msgs := h.relay.take()
	assert.Equal(t, []wire.RosterEvent{
		{Kind: wire.EventRegranted, Subject: "b", Reason: "grant changed from control to view"},
		{Kind: wire.EventCancelled, Subject: "b", Reason: reasonRoleLowered},
	}, controlEvents(msgs))
	assert.Nil(t, rostersOf(msgs)["a"][0].Request)

	h.handle(t, wire.TypeGrant, "a", wire.GrantChange{Grant: wire.GrantView})
	msgs = h.relay.take()
	released := wire.RosterEvent{Kind: wire.EventReleased, Subject: "a", Reason: reasonRoleLowered}
	assert.Equal(t, []wire.RosterEvent{
		{Kind: wire.EventRegranted, Subject: "a", Reason: "grant changed from control to view"}, released,
	}, controlEvents(msgs))
	for _, sid := range []string{"a", "b", "v"} {
		assert.Equal(t, &released, rostersOf(msgs)[sid][0].Event, sid)
		assert.Equal(t, wire.GrantView, rostersOf(msgs)[sid][0].Participants[0].Grant)
	}
	assert.Equal(t, []hidtest.Event{hidtest.Down(hid.UsageLeftCtrl), hidtest.Up(hid.UsageLeftCtrl)}, h.sink.Events())
	assert.Empty(t, h.controller())
	h.key(t, "a", hid.UsageA, true)
	assert.Len(t, h.sink.Events(), 2, "a watches now")
	assert.Len(t, bursts(msgs)["a"], 1)

	h.handle(t, wire.TypeGrant, "v", wire.GrantChange{Grant: wire.GrantAdmin})
	msgs = h.relay.take()
	assert.Equal(t, []wire.RosterEvent{{Kind: wire.EventRegranted, Subject: "v", Reason: "grant changed from view to admin"}}, controlEvents(msgs))
	assert.Empty(t, h.controller(), "a raised grant asks nothing")
	h.handle(t, wire.TypeGrant, "v", wire.GrantChange{Grant: wire.GrantAdmin})
	assert.Empty(t, h.relay.take(), "the same grant again changes nothing")
	h.handle(t, wire.TypeGrant, "nobody", wire.GrantChange{Grant: wire.GrantAdmin})
	assert.Empty(t, h.relay.take())
}

// TestSharedControllerLeaves: whatever ends the controller's session, its held Ctrl is
// released at once, control is free, the others are told, and its last burst is reported; a
// requester's leaving drops its request. A controller that merely goes quiet has its keys
// released by the silence watchdog within the timeout, and keeps control.
func TestSharedControllerLeaves(t *testing.T) {
	t.Run("session ends", func(t *testing.T) {
		h := newSharedHarness(t)
		h.join(t, "a", "ada", wire.GrantControl)
		h.join(t, "b", "bob", wire.GrantControl)
		h.join(t, "c", "cyd", wire.GrantControl)
		h.control(t, "c", wire.ControlRequest, "")
		h.key(t, "a", hid.UsageLeftCtrl, true)
		h.pass(time.Second)
		h.relay.take()
		require.Equal(t, []hidtest.Event{hidtest.Down(hid.UsageLeftCtrl)}, h.sink.Events())

		h.s["c"].end("hid channel closed")
		msgs := h.relay.take()
		assert.Equal(t, []wire.RosterEvent{{Kind: wire.EventCancelled, By: "c", Subject: "c", Reason: reasonLeft}}, controlEvents(msgs))
		assert.Equal(t, &wire.RosterEvent{Kind: wire.EventLeft, Subject: "c"}, rostersOf(msgs)["a"][0].Event)
		assert.Equal(t, "a", h.controller())

		h.s["a"].end("ICE failed")
		msgs = h.relay.take()
		assert.Equal(t, []hidtest.Event{hidtest.Down(hid.UsageLeftCtrl), hidtest.Up(hid.UsageLeftCtrl)}, h.sink.Events())
		assert.Empty(t, h.controller())
		released := wire.RosterEvent{Kind: wire.EventReleased, Subject: "a", Reason: reasonLeft}
		assert.Equal(t, []wire.RosterEvent{released}, controlEvents(msgs))
		assert.Equal(t, map[string][]wire.Roster{"b": {{
			Participants: []wire.Participant{{SID: "b", Name: "bob", Grant: wire.GrantControl}}, Event: &released,
		}}}, rostersOf(msgs))
		require.Len(t, bursts(msgs)["a"], 1)
		b := bursts(msgs)["a"][0]
		assert.Equal(t, 1, b.Keys)
		assert.True(t, b.Final)
		assert.Equal(t, int64(1000), b.To-b.From)

		h.key(t, "b", hid.UsageA, true)
		assert.Len(t, h.sink.Events(), 2, "free control: b must ask first")
		h.control(t, "b", wire.ControlRequest, "")
		assert.Equal(t, "b", h.controller())
	})
	t.Run("goes quiet", func(t *testing.T) {
		h := newSharedHarness(t)
		h.join(t, "a", "ada", wire.GrantControl)
		h.key(t, "a", hid.UsageLeftCtrl, true)
		h.clock.Advance(hid.DefaultSilenceTimeout)
		assert.Equal(t, []hidtest.Event{hidtest.Down(hid.UsageLeftCtrl), hidtest.Up(hid.UsageLeftCtrl)}, h.sink.Events())
		assert.Equal(t, "a", h.controller())
	})
}

// TestSharedBursts: a long stretch of control with input is reported every interval, the
// digest restarting each time; an interval without input sends nothing; the final burst
// covers what came after the last report.
func TestSharedBursts(t *testing.T) {
	h := newSharedHarness(t)
	start := h.clock.Now()
	h.join(t, "a", "ada", wire.GrantControl)
	h.join(t, "b", "bob", wire.GrantControl)
	h.key(t, "a", hid.UsageA, true)
	h.key(t, "a", hid.UsageA, false)
	h.relay.take()
	h.clock.Advance(testBurstInterval)
	first, err := hid.DigestEvents([]hid.Message{hid.KeyMsg{Usage: hid.UsageA, Down: true}, hid.KeyMsg{Usage: hid.UsageA}})
	require.NoError(t, err)
	at := func(d time.Duration) int64 { return start.Add(d).UnixMilli() }
	assert.Equal(t, map[string][]wire.InputBurst{"a": {{From: at(0), To: at(testBurstInterval), Keys: 2, Digest: first}}}, bursts(h.relay.take()))

	h.clock.Advance(testBurstInterval)
	assert.Empty(t, h.relay.take(), "no input, no report")

	h.d["a"].HandleHID([]byte{byte(hid.TypeButtons), 1, 0, 1, 0, 2})
	h.clock.Advance(time.Second)
	h.control(t, "a", wire.ControlPass, "b")
	second, err := hid.DigestEvents([]hid.Message{hid.ButtonsMsg{Buttons: hid.ButtonLeft, X: 1, Y: 2}})
	require.NoError(t, err)
	assert.NotEqual(t, first, second)
	assert.Equal(t, map[string][]wire.InputBurst{"a": {{From: at(testBurstInterval), To: at(2*testBurstInterval + time.Second), Pointer: 1, Digest: second, Final: true}}},
		bursts(h.relay.take()))

	h.clock.Advance(3 * testBurstInterval)
	assert.Empty(t, bursts(h.relay.take()), "b has typed nothing; a's timer is gone")
}

// TestSharedOnlyControllerActs: power, screens and consent codes are the controller's.
func TestSharedOnlyControllerActs(t *testing.T) {
	h := newSharedHarness(t)
	h.join(t, "a", "ada", wire.GrantControl)
	h.join(t, "v", "vic", wire.GrantView)
	h.relay.take()

	h.handle(t, wire.TypePowerAction, "v", wire.PowerAction{Action: wire.PowerReset, ID: "p1"})
	h.handle(t, wire.TypeConsentCode, "v", wire.ConsentCode{Code: "123456", ID: "c1"})
	h.handle(t, wire.TypeDisplay, "v", wire.DisplaySelect{Index: 1})
	h.a.wg.closeAndWait() // the displays sent back
	msgs := h.relay.take()
	require.Len(t, msgs, 3)
	assert.Equal(t, sentMsg{sid: "v", typ: wire.TypePower, data: wire.Power{ID: "p1", State: "unknown", Action: wire.PowerReset, Error: refusePower}}, msgs[0])
	assert.Equal(t, sentMsg{sid: "v", typ: wire.TypeConsent, data: wire.Consent{ID: "c1", State: wire.ConsentNone, Error: refuseConsent}}, msgs[1])
	assert.Equal(t, "v", msgs[2].sid)
	assert.Equal(t, wire.TypeDisplays, msgs[2].typ, "the viewer's screen choice goes back to the one shown")
	h.src.mu.Lock()
	assert.Empty(t, h.src.actions)
	assert.Empty(t, h.src.selected)
	h.src.mu.Unlock()
}

// TestSharedRosterBounds: a machine's roster holds wire.MaxParticipants at most.
func TestSharedRosterBounds(t *testing.T) {
	f := newFloor(floorConfig{arb: mustArbiter(t), send: func(string, wire.Type, any) {}, log: slog.Default()})
	defer f.close()
	for i := range wire.MaxParticipants {
		require.NoError(t, f.join(guid(i), "", wire.GrantView))
	}
	require.ErrorIs(t, f.join("one-too-many", "", wire.GrantView), errFloorFull)
	require.NoError(t, f.join(guid(3), "again", wire.GrantView), "a session already on the roster may join again")
}

func mustArbiter(t *testing.T) *hid.Arbiter {
	t.Helper()
	arb, err := hid.NewArbiter(hid.ArbiterConfig{Sink: hidtest.NewRecorder()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = arb.Close() })
	return arb
}
