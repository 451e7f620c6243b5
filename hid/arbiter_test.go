package hid_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/hidtest"
)

// layoutRecorder is a sink that translates keys itself (RFB) and records the layouts it is
// handed.
type layoutRecorder struct {
	*hidtest.Recorder
	mu      sync.Mutex
	layouts []string
}

func (l *layoutRecorder) SetLayout(layout *hid.Layout) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.layouts = append(l.layouts, layout.Name())
}

func (l *layoutRecorder) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.layouts...)
}

// shared is one machine with an Arbiter and a Dispatcher per console session.
type shared struct {
	arb     *hid.Arbiter
	sink    *layoutRecorder
	clock   *hidtest.Clock
	d       map[string]*hid.Dispatcher
	seats   map[string]*hid.Seat
	dropped map[string]int
	mu      sync.Mutex
}

func newShared(t *testing.T, sids ...string) *shared {
	t.Helper()
	s := &shared{sink: &layoutRecorder{Recorder: hidtest.NewRecorder()}, clock: hidtest.NewClock(),
		d: map[string]*hid.Dispatcher{}, seats: map[string]*hid.Seat{}, dropped: map[string]int{}}
	arb, err := hid.NewArbiter(hid.ArbiterConfig{Sink: s.sink, Clock: s.clock, OnDrop: func(sid string) {
		s.mu.Lock()
		s.dropped[sid]++
		s.mu.Unlock()
	}})
	require.NoError(t, err)
	s.arb = arb
	for _, sid := range sids {
		seat, err := arb.Seat(sid)
		require.NoError(t, err)
		d, err := hid.NewDispatcher(hid.Config{Seat: seat, Clock: s.clock})
		require.NoError(t, err)
		t.Cleanup(func() { _ = d.Close() })
		s.d[sid], s.seats[sid] = d, seat
	}
	t.Cleanup(func() { _ = arb.Close() })
	return s
}

func (s *shared) control(t *testing.T, sid string) hid.Burst {
	t.Helper()
	b, err := s.arb.SetController(sid)
	require.NoError(t, err)
	return b
}

func (s *shared) key(t *testing.T, sid string, u hid.Usage, isDown bool) {
	s.d[sid].HandleHID(enc(t, hid.KeyMsg{Usage: u, Down: isDown}))
}

func (s *shared) drops(sid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped[sid]
}

// TestArbiterDropsViewerInput: whatever a viewer sends that is input never reaches the
// sink; it is counted per dispatcher, per seat and through OnDrop.
func TestArbiterDropsViewerInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		ch   hid.Channel
		msg  hid.Message
	}{
		{"key", hid.ChannelHID, hid.KeyMsg{Usage: ctrl, Down: true}},
		{"buttons", hid.ChannelHID, hid.ButtonsMsg{Buttons: hid.ButtonLeft, X: 10, Y: 10}},
		{"wheel", hid.ChannelHID, hid.WheelMsg{DY: 3}},
		{"relative move", hid.ChannelHID, hid.PointerRelMsg{Buttons: hid.ButtonRight, DX: 4}},
		{"absolute move", hid.ChannelPointer, hid.PointerAbsMsg{Seq: 1, X: 5, Y: 6}},
		{"text", hid.ChannelHID, hid.TextMsg{Text: "reboot\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShared(t, "ctl", "viewer")
			s.control(t, "ctl")
			s.d["viewer"].HandleMessage(tc.ch, false, enc(t, tc.msg))
			assert.False(t, s.d["viewer"].TypeNext(context.Background()), "nothing queued for typing")
			assert.Empty(t, s.sink.Events())

			var want hid.ChannelSnapshot
			want.Dropped[hid.DropNotController] = 1
			snap := s.d["viewer"].Stats().Snapshot()
			if tc.ch == hid.ChannelPointer {
				assert.Equal(t, want, snap.Pointer)
			} else {
				assert.Equal(t, want, snap.HID)
			}
			assert.EqualValues(t, 1, s.seats["viewer"].Dropped())
			assert.Equal(t, 1, s.drops("viewer"))
			assert.Zero(t, s.seats["ctl"].Dropped())
			b, ok := s.arb.Burst()
			require.True(t, ok)
			assert.Equal(t, "ctl", b.SID)
			assert.False(t, b.HasInput(), "a viewer's input is nobody's burst")
		})
	}
}

// TestArbiterViewerHousekeeping: keep-alives, probes and release-all from a viewer are
// handled (accepted), but release-all lifts nothing of the controller's.
func TestArbiterViewerHousekeeping(t *testing.T) {
	s := newShared(t, "ctl", "viewer")
	var probes []uint32
	seat, err := s.arb.Seat("prober")
	require.NoError(t, err)
	prober, err := hid.NewDispatcher(hid.Config{Seat: seat, Clock: s.clock, OnProbe: func(id uint32) { probes = append(probes, id) }})
	require.NoError(t, err)
	defer prober.Close()

	s.control(t, "ctl")
	s.key(t, "ctl", ctrl, true)
	for _, m := range []hid.Message{hid.KeepAliveMsg{}, hid.ReleaseAllMsg{}, hid.ProbeMsg{ID: 7}} {
		s.d["viewer"].HandleHID(enc(t, m))
		prober.HandleHID(enc(t, m))
	}
	assert.Equal(t, []uint32{7}, probes)
	assert.EqualValues(t, 3, s.d["viewer"].Stats().HID.Accepted.Load())
	assert.Zero(t, s.seats["viewer"].Dropped(), "not input: nothing dropped")
	assert.Equal(t, []hidtest.Event{down(ctrl)}, s.sink.Events(), "the viewer's release-all did not lift Ctrl")
	keys, _ := s.arb.Held()
	assert.Equal(t, []hid.Usage{ctrl}, keys)
}

// TestArbiterViewerReleasesLiftNothing: a viewer's release-all, its silence and its
// session's end leave the controller's keys held; the controller's own release-all lifts
// them.
func TestArbiterViewerReleasesLiftNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release func(t *testing.T, s *shared)
	}{
		{"release-all", func(t *testing.T, s *shared) { s.d["viewer"].HandleHID(enc(t, hid.ReleaseAllMsg{})) }},
		{"silence", func(t *testing.T, s *shared) {
			s.d["viewer"].HandleHID(enc(t, hid.KeepAliveMsg{}))
			// The controller keeps talking while the viewer goes quiet.
			for range 5 {
				s.clock.Advance(200 * ms)
				s.d["ctl"].HandleHID(enc(t, hid.KeepAliveMsg{}))
			}
			assert.EqualValues(t, 1, s.d["viewer"].Stats().SilenceReleases.Load())
		}},
		{"close", func(t *testing.T, s *shared) { require.NoError(t, s.d["viewer"].Close()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShared(t, "ctl", "viewer")
			s.control(t, "ctl")
			s.key(t, "ctl", ctrl, true)
			s.d["ctl"].HandleHID(enc(t, hid.ButtonsMsg{Buttons: hid.ButtonLeft, X: 1, Y: 2}))
			tc.release(t, s)
			keys, buttons := s.sink.Pressed()
			assert.Equal(t, map[hid.Usage]bool{ctrl: true}, keys)
			assert.Equal(t, hid.ButtonLeft, buttons)

			s.d["ctl"].HandleHID(enc(t, hid.ReleaseAllMsg{}))
			keys, buttons = s.sink.Pressed()
			assert.Empty(t, keys)
			assert.Zero(t, buttons)
		})
	}
}

// TestArbiterControlChangeReleasesFirst: the previous controller's Ctrl is released before
// the new controller's first key reaches the machine, and the previous controller's input
// is dropped from then on.
func TestArbiterControlChangeReleasesFirst(t *testing.T) {
	for _, next := range []string{"b", ""} {
		t.Run("to "+next, func(t *testing.T) {
			s := newShared(t, "a", "b")
			s.control(t, "a")
			s.key(t, "a", ctrl, true)
			s.d["a"].HandleHID(enc(t, hid.ButtonsMsg{Buttons: hid.ButtonRight, X: 3, Y: 4}))
			s.sink.Take()

			s.control(t, next)
			assert.Equal(t, []hidtest.Event{abs(3, 4, 0), up(ctrl)}, s.sink.Take(), "released at once")
			assert.Equal(t, next, s.arb.Controller())

			s.key(t, "b", usageA, true)
			s.key(t, "a", usageDelete, true)
			if next == "b" {
				assert.Equal(t, []hidtest.Event{down(usageA)}, s.sink.Take())
			} else {
				assert.Empty(t, s.sink.Take(), "nobody in control: everybody's input is dropped")
			}
			assert.EqualValues(t, 1, s.d["a"].Stats().HID.Dropped[hid.DropNotController].Load())
		})
	}
}

// TestArbiterControlChangeCancelsText: a text the former controller was typing stops, and
// does not resume if control comes back.
func TestArbiterControlChangeCancelsText(t *testing.T) {
	s := newShared(t, "a", "b")
	s.control(t, "a")
	s.d["a"].HandleHID(enc(t, hid.TextMsg{Text: "shutdown -h now"}))
	s.d["a"].HandleHID(enc(t, hid.TextMsg{Text: "x"}))
	s.control(t, "b")
	s.control(t, "a")
	require.True(t, s.d["a"].TypeNext(context.Background()))
	require.True(t, s.d["a"].TypeNext(context.Background()))
	assert.Empty(t, s.sink.Events())
	assert.EqualValues(t, 2, s.d["a"].Stats().TextCanceled.Load())

	// Mid-text: the stroke after the change is not typed, nothing stays pressed.
	sink := &releaseOnNth{Recorder: hidtest.NewRecorder(), n: 5}
	arb, err := hid.NewArbiter(hid.ArbiterConfig{Sink: sink, Clock: hidtest.NewClock()})
	require.NoError(t, err)
	defer arb.Close()
	seat, err := arb.Seat("a")
	require.NoError(t, err)
	d, err := hid.NewDispatcher(hid.Config{Seat: seat, Clock: hidtest.NewClock()})
	require.NoError(t, err)
	defer d.Close()
	_, err = arb.SetController("a")
	require.NoError(t, err)
	moved := make(chan struct{})
	sink.fire = func() {
		_, _ = arb.SetController("b")
		close(moved)
	}
	d.HandleHID(enc(t, hid.TextMsg{Text: strings.Repeat("Ab", 2000)}))
	require.True(t, d.TypeNext(context.Background()))
	<-moved
	keys, _ := sink.Pressed()
	assert.Empty(t, keys, "whichever wins the race, nothing stays pressed")
	assert.EqualValues(t, 1, d.Stats().TextCanceled.Load())
}

// TestArbiterSeatCloseFreesControl: the controller's session ending releases what it held
// and frees control; a viewer's ending does neither.
func TestArbiterSeatCloseFreesControl(t *testing.T) {
	s := newShared(t, "a", "b")
	s.control(t, "a")
	s.key(t, "a", ctrl, true)
	s.key(t, "a", alt, true)
	require.NoError(t, s.d["b"].Close())
	assert.Equal(t, "a", s.arb.Controller())
	require.NoError(t, s.d["a"].Close())
	keys, _ := s.sink.Pressed()
	assert.Empty(t, keys)
	assert.Empty(t, s.arb.Controller())

	s.key(t, "a", ctrl, true)
	assert.EqualValues(t, 1, s.d["a"].Stats().HID.Dropped[hid.DropClosed].Load())
	seat, err := s.arb.Seat("a")
	require.NoError(t, err, "a closed seat's session may sit again (a console re-joins)")
	require.NoError(t, seat.Close())
	_, err = s.arb.Seat("b")
	require.NoError(t, err)
	_, err = s.arb.Seat("b")
	require.Error(t, err, "one seat per session")
}

// TestArbiterLayout: only the controller's layout reaches a sink that translates keys; a
// viewer's is applied when it gains control.
func TestArbiterLayout(t *testing.T) {
	s := newShared(t, "a", "b")
	var applied []string
	seat, err := s.arb.Seat("c")
	require.NoError(t, err)
	c, err := hid.NewDispatcher(hid.Config{Seat: seat, Clock: s.clock, OnLayout: func(l *hid.Layout) { applied = append(applied, l.Name()) }})
	require.NoError(t, err)
	defer c.Close()

	s.control(t, "a")
	s.d["a"].HandleHID(enc(t, hid.LayoutMsg{Name: "de-DE"}))
	s.d["b"].HandleHID(enc(t, hid.LayoutMsg{Name: "fr-FR"}))
	c.HandleHID(enc(t, hid.LayoutMsg{Name: "fr-FR"}))
	assert.Equal(t, []string{"de-DE"}, s.sink.got())
	assert.Empty(t, applied, "OnLayout only for the controller's layout")
	assert.Equal(t, "fr-FR", s.d["b"].Layout().Name(), "the viewer's own text layout follows its console")
	assert.EqualValues(t, 1, s.d["b"].Stats().HID.Accepted.Load(), "layout is not input")

	s.control(t, "b")
	assert.Equal(t, []string{"de-DE", "fr-FR"}, s.sink.got())
	s.control(t, "c")
	c.HandleHID(enc(t, hid.LayoutMsg{Name: "en-US"}))
	assert.Equal(t, []string{"en-US"}, applied)
}

// TestArbiterBurst: a burst counts the controller's key and pointer events and digests them
// as the package doc defines; moving control ends it, TakeBurst restarts it.
func TestArbiterBurst(t *testing.T) {
	s := newShared(t, "a", "b")
	start := s.clock.Now()
	_, ok := s.arb.Burst()
	assert.False(t, ok, "nobody in control")
	assert.Equal(t, hid.Burst{}, s.control(t, "a"), "nobody held control before")

	events := []hid.Message{
		hid.KeyMsg{Usage: ctrl, Down: true},
		hid.KeyMsg{Usage: ctrl, Down: true}, // a repeated down is the console's event too
		hid.ButtonsMsg{Buttons: hid.ButtonLeft, X: 100, Y: 200},
		hid.WheelMsg{DX: -1, DY: 2},
		hid.PointerRelMsg{DX: -300, DY: 5},
		hid.KeyMsg{Usage: ctrl},
	}
	for _, m := range events {
		s.d["a"].HandleHID(enc(t, m))
	}
	s.d["a"].HandlePointer(enc(t, hid.PointerAbsMsg{Seq: 9, X: 7, Y: 8}))
	s.d["a"].HandlePointer(enc(t, hid.PointerAbsMsg{Seq: 8, X: 1, Y: 1})) // stale: dropped
	s.d["a"].HandleHID(enc(t, hid.ReleaseAllMsg{}))                       // not an event
	s.d["b"].HandleHID(enc(t, hid.KeyMsg{Usage: usageA, Down: true}))     // a viewer's: not an event
	events = append(events, hid.PointerAbsMsg{Seq: 9, X: 7, Y: 8})

	// The digest, computed here from the definition.
	h := sha256.New()
	for _, m := range events {
		b := enc(t, m)
		h.Write([]byte{byte(len(b) >> 8), byte(len(b))})
		h.Write(b)
	}
	want := hex.EncodeToString(h.Sum(nil))
	viaHelper, err := hid.DigestEvents(events)
	require.NoError(t, err)
	assert.Equal(t, want, viaHelper)

	s.clock.Advance(3 * time.Second)
	peek, ok := s.arb.Burst()
	require.True(t, ok)
	assert.Equal(t, hid.Burst{SID: "a", From: start, To: start.Add(3 * time.Second), Keys: 3, Pointer: 4, Digest: want, Seq: 2}, peek)
	again, _ := s.arb.Burst()
	assert.Equal(t, peek, again, "Burst does not restart")

	taken, ok := s.arb.TakeBurst()
	require.True(t, ok)
	assert.Equal(t, peek, taken)
	s.clock.Advance(time.Second)
	s.key(t, "a", usageA, true)
	s.key(t, "a", usageA, false)
	s.clock.Advance(time.Second)
	final := s.control(t, "b")
	wantFinal, err := hid.DigestEvents([]hid.Message{hid.KeyMsg{Usage: usageA, Down: true}, hid.KeyMsg{Usage: usageA}})
	require.NoError(t, err)
	assert.Equal(t, hid.Burst{SID: "a", From: start.Add(3 * time.Second), To: start.Add(5 * time.Second), Keys: 2, Digest: wantFinal, Seq: 3}, final)

	b, ok := s.arb.Burst()
	require.True(t, ok)
	assert.Equal(t, hid.Burst{SID: "b", From: start.Add(5 * time.Second), To: start.Add(5 * time.Second),
		Digest: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Seq: 4}, b, "a new burst starts empty")
}

// TestArbiterBurstCountsTypedText: TEXT counts as the KEY messages its strokes are.
func TestArbiterBurstCountsTypedText(t *testing.T) {
	s := newShared(t, "a")
	s.control(t, "a")
	s.d["a"].HandleHID(enc(t, hid.TextMsg{Text: "Hi"}))
	require.True(t, s.d["a"].TypeNext(context.Background()))
	want, err := hid.DigestEvents([]hid.Message{
		hid.KeyMsg{Usage: shift, Down: true}, hid.KeyMsg{Usage: 0x0B, Down: true}, hid.KeyMsg{Usage: 0x0B}, hid.KeyMsg{Usage: shift},
		hid.KeyMsg{Usage: 0x0C, Down: true}, hid.KeyMsg{Usage: 0x0C},
	})
	require.NoError(t, err)
	b, ok := s.arb.Burst()
	require.True(t, ok)
	assert.Equal(t, 6, b.Keys)
	assert.Zero(t, b.Pointer)
	assert.Equal(t, want, b.Digest)
}

// TestDigestEvents: the digest is a function of the events, their order and their content.
func TestDigestEvents(t *testing.T) {
	base := []hid.Message{hid.KeyMsg{Usage: usageA, Down: true}, hid.KeyMsg{Usage: usageA}, hid.WheelMsg{DY: 1}}
	first, err := hid.DigestEvents(base)
	require.NoError(t, err)
	again, err := hid.DigestEvents(append([]hid.Message(nil), base...))
	require.NoError(t, err)
	assert.Equal(t, first, again, "deterministic")
	assert.Regexp(t, `^[0-9a-f]{64}$`, first)

	seen := map[string]string{"base": first}
	for name, events := range map[string][]hid.Message{
		"other key":      {hid.KeyMsg{Usage: hid.UsageZ, Down: true}, hid.KeyMsg{Usage: usageA}, hid.WheelMsg{DY: 1}},
		"other order":    {hid.KeyMsg{Usage: usageA}, hid.KeyMsg{Usage: usageA, Down: true}, hid.WheelMsg{DY: 1}},
		"one less":       base[:2],
		"other wheel":    {hid.KeyMsg{Usage: usageA, Down: true}, hid.KeyMsg{Usage: usageA}, hid.WheelMsg{DY: 2}},
		"none":           nil,
		"framing counts": {hid.KeyMsg{Usage: usageA, Down: true}, hid.KeyMsg{Usage: usageA}, hid.WheelMsg{DX: 1}},
	} {
		got, err := hid.DigestEvents(events)
		require.NoError(t, err)
		for other, d := range seen {
			assert.NotEqual(t, d, got, "%s and %s", name, other)
		}
		seen[name] = got
	}
	_, err = hid.DigestEvents([]hid.Message{hid.KeyMsg{Usage: 0}})
	require.Error(t, err)
	skipped, err := hid.DigestEvents(append([]hid.Message{hid.KeepAliveMsg{}}, base...))
	require.NoError(t, err)
	assert.Equal(t, first, skipped, "what is not input is not an event")
}

// TestSeatInput: a seat used directly, without a Dispatcher.
func TestSeatInput(t *testing.T) {
	rec := hidtest.NewRecorder()
	arb, err := hid.NewArbiter(hid.ArbiterConfig{Sink: rec})
	require.NoError(t, err)
	a, err := arb.Seat("a")
	require.NoError(t, err)
	require.ErrorIs(t, a.Input(hid.KeyMsg{Usage: usageA, Down: true}), hid.ErrNotController)
	_, err = arb.SetController("a")
	require.NoError(t, err)
	assert.True(t, a.Controls())
	require.NoError(t, a.Input(hid.KeyMsg{Usage: usageA, Down: true}))
	require.ErrorIs(t, a.Input(hid.KeyMsg{Usage: 0x300, Down: true}), hid.ErrOutOfRange)
	require.ErrorIs(t, a.Input(hid.KeepAliveMsg{}), hid.ErrUnknownType)
	assert.Equal(t, []hidtest.Event{down(usageA)}, rec.Events())

	require.NoError(t, arb.Close())
	assert.Equal(t, []hidtest.Event{down(usageA), up(usageA)}, rec.Events(), "Close releases")
	require.ErrorIs(t, a.Input(hid.KeyMsg{Usage: usageA, Down: true}), hid.ErrClosed)
	assert.Empty(t, arb.Controller())
	_, err = arb.Seat("b")
	require.ErrorIs(t, err, hid.ErrClosed)

	_, err = hid.NewArbiter(hid.ArbiterConfig{})
	require.Error(t, err)
	_, err = hid.NewDispatcher(hid.Config{Sink: rec, Seat: a})
	require.Error(t, err, "a sink or a seat, not both")
}

// TestArbiterRace: two consoles hammer the machine while control flips between them; run
// with -race. Whatever interleaving happens, nothing stays pressed once control is freed,
// and the bursts account for every event the sink saw pressed.
func TestArbiterRace(t *testing.T) {
	rec := hidtest.NewRecorder()
	arb, err := hid.NewArbiter(hid.ArbiterConfig{Sink: rec})
	require.NoError(t, err)
	defer arb.Close()
	ds := map[string]*hid.Dispatcher{}
	for _, sid := range []string{"a", "b"} {
		seat, err := arb.Seat(sid)
		require.NoError(t, err)
		d, err := hid.NewDispatcher(hid.Config{Seat: seat, RatePerSecond: 1e9})
		require.NoError(t, err)
		defer d.Close()
		ds[sid] = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var typists, inputs sync.WaitGroup
	var keys atomic.Int64
	for sid, d := range ds {
		typists.Go(func() { _ = d.Run(ctx) })
		inputs.Go(func() {
			for i := range 2000 {
				u := hid.UsageA + hid.Usage(i%20)
				d.HandleHID(enc(t, hid.KeyMsg{Usage: ctrl, Down: true}))
				d.HandleHID(enc(t, hid.KeyMsg{Usage: u, Down: true}))
				d.HandlePointer(enc(t, hid.PointerAbsMsg{Seq: uint16(i), X: uint16(i), Y: 1}))
				d.HandleHID(enc(t, hid.KeyMsg{Usage: u}))
				if i%500 == 0 {
					d.HandleHID(enc(t, hid.TextMsg{Text: "text from " + sid}))
				}
			}
		})
	}
	var bursts []hid.Burst
	inputs.Go(func() {
		for i := range 400 {
			b, err := arb.SetController([]string{"a", "b"}[i%2])
			assert.NoError(t, err)
			bursts = append(bursts, b)
		}
	})
	inputs.Go(func() {
		for range 200 {
			if b, ok := arb.TakeBurst(); ok {
				keys.Add(int64(b.Keys))
			}
		}
	})
	inputs.Wait()
	// Freed while the typists may still type: their strokes are refused from now on.
	last, err := arb.SetController("")
	require.NoError(t, err)
	cancel()
	typists.Wait()
	bursts = append(bursts, last)
	pressed, buttons := rec.Pressed()
	assert.Empty(t, pressed)
	assert.Zero(t, buttons)
	for _, b := range bursts {
		keys.Add(int64(b.Keys))
		if b.SID != "" {
			assert.Regexp(t, `^[0-9a-f]{64}$`, b.Digest)
		}
	}
	var downs int64
	for _, e := range rec.Events() {
		if e.Key && e.Down {
			downs++
		}
	}
	// Every press the machine saw was a counted event (repeated downs are counted but not sent).
	assert.GreaterOrEqual(t, keys.Load(), downs)
}
