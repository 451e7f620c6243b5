package hid_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/hidtest"
)

type fixture struct {
	d     *hid.Dispatcher
	rec   *hidtest.Recorder
	clock *hidtest.Clock
}

func newFixture(t *testing.T, cfg hid.Config) fixture {
	t.Helper()
	f := fixture{rec: hidtest.NewRecorder(), clock: hidtest.NewClock()}
	cfg.Sink, cfg.Clock = f.rec, f.clock
	d, err := hid.NewDispatcher(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	f.d = d
	return f
}

func enc(t *testing.T, m hid.Message) []byte {
	t.Helper()
	b, err := hid.Encode(m)
	require.NoError(t, err)
	return b
}

func (f fixture) key(t *testing.T, u hid.Usage, isDown bool) {
	f.d.HandleHID(enc(t, hid.KeyMsg{Usage: u, Down: isDown}))
}

func TestDispatcherDelivers(t *testing.T) {
	f := newFixture(t, hid.Config{})
	f.key(t, ctrl, true)
	f.key(t, usageA, true)
	f.key(t, usageA, true) // duplicate down: accepted, not sent twice
	f.d.HandleHID(enc(t, hid.ButtonsMsg{Buttons: hid.ButtonLeft, X: 100, Y: 200}))
	// The mask in POINTER_ABS is ignored: buttons are state, owned by the reliable channel.
	f.d.HandlePointer(enc(t, hid.PointerAbsMsg{Seq: 1, X: 300, Y: 400}))
	f.d.HandleHID(enc(t, hid.WheelMsg{DY: 2}))
	f.d.HandleHID(enc(t, hid.ButtonsMsg{X: hid.NoPosition, Y: hid.NoPosition}))
	f.d.HandleHID(enc(t, hid.PointerRelMsg{Buttons: hid.ButtonRight, DX: -5, DY: 7}))
	f.d.HandleHID(enc(t, hid.KeepAliveMsg{}))
	f.key(t, usageA, false)
	f.key(t, ctrl, false)

	assert.Equal(t, []hidtest.Event{
		down(ctrl), down(usageA),
		abs(100, 200, hid.ButtonLeft),
		abs(300, 400, hid.ButtonLeft),
		hidtest.Pointer(hid.PointerEvent{Absolute: true, X: 300, Y: 400, Buttons: hid.ButtonLeft, WheelY: 2}),
		abs(300, 400, 0),
		hidtest.Pointer(hid.PointerEvent{DX: -5, DY: 7, Buttons: hid.ButtonRight}),
		up(usageA), up(ctrl),
	}, f.rec.Events())
	snap := f.d.Stats().Snapshot()
	assert.Equal(t, hid.ChannelSnapshot{Accepted: 10}, snap.HID)
	assert.Equal(t, hid.ChannelSnapshot{Accepted: 1}, snap.Pointer)
}

func TestDispatcherDropsMalformed(t *testing.T) {
	tests := []struct {
		name     string
		ch       hid.Channel
		isString bool
		msg      []byte
		reason   hid.DropReason
	}{
		{"oversized", hid.ChannelHID, false, append([]byte{0x06}, strings.Repeat("x", 16<<10)...), hid.DropTooLarge},
		{"oversized pointer", hid.ChannelPointer, false, make([]byte, 64<<10), hid.DropTooLarge},
		{"empty", hid.ChannelHID, false, nil, hid.DropTooShort},
		{"short key", hid.ChannelHID, false, []byte{0x01, 0x01}, hid.DropTooShort},
		{"long keepalive", hid.ChannelHID, false, []byte{0x04, 0x04}, hid.DropBadLength},
		{"unknown type", hid.ChannelHID, false, []byte{0x7F}, hid.DropUnknownType},
		{"usage 0", hid.ChannelHID, false, []byte{0x01, 0x01, 0x00, 0x00}, hid.DropOutOfRange},
		{"bad buttons", hid.ChannelHID, false, []byte{0x02, 0x20, 0, 0, 0, 0}, hid.DropOutOfRange},
		{"pointer out of range", hid.ChannelPointer, false, []byte{0x10, 0, 1, 0, 0x80, 0, 0, 0}, hid.DropOutOfRange},
		{"text not utf8", hid.ChannelHID, false, []byte{0x06, 0xFF}, hid.DropInvalidUTF8},
		{"pointer abs on hid", hid.ChannelHID, false, []byte{0x10, 0, 1, 0, 0, 0, 0, 0}, hid.DropWrongChannel},
		{"key on pointer", hid.ChannelPointer, false, []byte{0x01, 0x01, 0x00, 0x04}, hid.DropWrongChannel},
		{"release all on pointer", hid.ChannelPointer, false, []byte{0x05}, hid.DropWrongChannel},
		{"unknown channel", hid.Channel(7), false, []byte{0x04}, hid.DropWrongChannel},
		{"string message", hid.ChannelHID, true, []byte{0x04}, hid.DropNotBinary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, hid.Config{})
			f.d.HandleMessage(tt.ch, tt.isString, tt.msg)
			var want hid.StatsSnapshot
			if tt.ch == hid.ChannelPointer {
				want.Pointer.Dropped[tt.reason] = 1
			} else {
				want.HID.Dropped[tt.reason] = 1
			}
			assert.Equal(t, want, f.d.Stats().Snapshot())
			assert.Empty(t, f.rec.Events())
		})
	}
}

func TestDispatcherDropsStalePointer(t *testing.T) {
	f := newFixture(t, hid.Config{})
	for _, seq := range []uint16{0xFFFE, 0xFFFD, 0x0001, 0xFFFF} {
		f.d.HandlePointer(enc(t, hid.PointerAbsMsg{Seq: seq, X: seq & 0x7FFF}))
	}
	assert.Equal(t, []hidtest.Event{abs(0x7FFE, 0, 0), abs(1, 0, 0)}, f.rec.Events())
	snap := f.d.Stats().Snapshot().Pointer
	assert.EqualValues(t, 2, snap.Accepted)
	assert.EqualValues(t, 2, snap.Dropped[hid.DropStale])
}

func TestDispatcherFlood(t *testing.T) {
	f := newFixture(t, hid.Config{RatePerSecond: 100, RateBurst: 10})
	keepalive := enc(t, hid.KeepAliveMsg{})
	for range 50 {
		f.d.HandleHID(keepalive)
	}
	snap := f.d.Stats().Snapshot().HID
	assert.EqualValues(t, 10, snap.Accepted)
	assert.EqualValues(t, 40, snap.Dropped[hid.DropFlood])

	// Malformed messages spend tokens too: a flood of garbage costs no more than a token check.
	f.d.HandleHID([]byte{0xEE})
	assert.EqualValues(t, 41, f.d.Stats().HID.Dropped[hid.DropFlood].Load())

	// The pointer channel has its own bucket.
	f.d.HandlePointer(enc(t, hid.PointerAbsMsg{Seq: 1}))
	assert.EqualValues(t, 1, f.d.Stats().Pointer.Accepted.Load())

	// 100 ms refills 10 tokens.
	f.clock.Advance(100 * ms)
	for range 20 {
		f.d.HandleHID(keepalive)
	}
	snap = f.d.Stats().Snapshot().HID
	assert.EqualValues(t, 20, snap.Accepted)
	assert.EqualValues(t, 51, snap.Dropped[hid.DropFlood])
}

// SECURITY.md item 11: the console goes quiet while Ctrl+Alt are held.
func TestDispatcherSilenceReleasesHeldInput(t *testing.T) {
	f := newFixture(t, hid.Config{})
	f.key(t, ctrl, true)
	f.key(t, alt, true)
	f.d.HandleHID(enc(t, hid.ButtonsMsg{Buttons: hid.ButtonLeft, X: 7, Y: 8}))
	for range 10 { // keep-alives every 200 ms keep everything held
		f.clock.Advance(200 * ms)
		f.d.HandleHID(enc(t, hid.KeepAliveMsg{}))
	}
	// Pointer traffic is not a sign of life for the reliable channel.
	f.d.HandlePointer(enc(t, hid.PointerAbsMsg{Seq: 1, X: 9, Y: 9}))
	f.rec.Take()

	f.clock.Advance(499 * ms)
	assert.Empty(t, f.rec.Events())
	f.clock.Advance(1 * ms)
	assert.Equal(t, []hidtest.Event{abs(9, 9, 0), up(ctrl), up(alt)}, f.rec.Take())
	assert.EqualValues(t, 1, f.d.Stats().SilenceReleases.Load())

	// A late key-up for a released key is dropped, not sent.
	f.key(t, ctrl, false)
	assert.Empty(t, f.rec.Events())
}

func TestDispatcherSilenceTimeoutConfigurable(t *testing.T) {
	f := newFixture(t, hid.Config{SilenceTimeout: 2 * time.Second})
	f.key(t, ctrl, true)
	f.clock.Advance(1999 * ms)
	keys, _ := f.d.Held()
	assert.Equal(t, []hid.Usage{ctrl}, keys)
	f.clock.Advance(1 * ms)
	keys, _ = f.d.Held()
	assert.Empty(t, keys)
}

// SECURITY.md item 11: the console disconnects while Ctrl+Alt are held.
func TestDispatcherCloseReleasesHeldInput(t *testing.T) {
	f := newFixture(t, hid.Config{})
	f.key(t, ctrl, true)
	f.key(t, alt, true)
	f.key(t, usageDelete, true)
	f.d.HandleHID(enc(t, hid.PointerRelMsg{Buttons: hid.ButtonBack, DX: 1}))
	f.rec.Take()

	require.NoError(t, f.d.Close())
	assert.Equal(t, []hidtest.Event{up(usageDelete), hidtest.Pointer(hid.PointerEvent{}), up(ctrl), up(alt)}, f.rec.Take())
	require.NoError(t, f.d.Close(), "idempotent")

	f.key(t, ctrl, true)
	f.d.HandlePointer(enc(t, hid.PointerAbsMsg{Seq: 9}))
	assert.Empty(t, f.rec.Events())
	assert.EqualValues(t, 1, f.d.Stats().HID.Dropped[hid.DropClosed].Load())
	assert.EqualValues(t, 1, f.d.Stats().Pointer.Dropped[hid.DropClosed].Load())

	f.clock.Advance(time.Hour)
	assert.Zero(t, f.d.Stats().SilenceReleases.Load(), "the watchdog is stopped")
}

func TestDispatcherRunEndReleasesHeldInput(t *testing.T) {
	f := newFixture(t, hid.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.d.Run(ctx) }()
	f.key(t, ctrl, true)
	f.key(t, alt, true)
	cancel()
	require.NoError(t, <-done)
	keys, _ := f.rec.Pressed()
	assert.Empty(t, keys)
	f.key(t, ctrl, true)
	assert.EqualValues(t, 1, f.d.Stats().HID.Dropped[hid.DropClosed].Load())
}

func TestDispatcherRunStopsOnClose(t *testing.T) {
	f := newFixture(t, hid.Config{})
	done := make(chan error)
	go func() { done <- f.d.Run(context.Background()) }()
	require.NoError(t, f.d.Close())
	require.NoError(t, <-done)
	require.Error(t, f.d.Run(context.Background()), "Run is single-use")
}

func TestDispatcherTypesText(t *testing.T) {
	f := newFixture(t, hid.Config{})
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "Hi!\r\n€x"}))
	require.True(t, f.d.TypeNext(context.Background()))
	assert.Equal(t, []hidtest.Event{
		down(shift), down(0x0B), up(0x0B), up(shift), // H
		down(0x0C), up(0x0C), // i
		down(shift), down(hid.Usage1), up(hid.Usage1), up(shift), // !
		down(hid.UsageEnter), up(hid.UsageEnter), // \r\n is one Enter
		down(0x1B), up(0x1B), // x; € skipped
	}, f.rec.Events())
	snap := f.d.Stats().Snapshot()
	assert.EqualValues(t, 5, snap.TextTyped)
	assert.EqualValues(t, 1, snap.TextSkipped)
	assert.Zero(t, snap.TextCanceled)
}

func TestDispatcherTextReleasesHeldKeysFirst(t *testing.T) {
	// Ctrl still held from the Ctrl+V that sent the text must not turn it into shortcuts.
	f := newFixture(t, hid.Config{})
	f.key(t, ctrl, true)
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "w"}))
	require.True(t, f.d.TypeNext(context.Background()))
	assert.Equal(t, []hidtest.Event{down(ctrl), up(ctrl), down(0x1A), up(0x1A)}, f.rec.Events())
}

func TestDispatcherReleaseAllCancelsQueuedText(t *testing.T) {
	f := newFixture(t, hid.Config{})
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "rm -rf"}))
	f.d.HandleHID(enc(t, hid.ReleaseAllMsg{}))
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "a"}))
	require.True(t, f.d.TypeNext(context.Background()))
	require.True(t, f.d.TypeNext(context.Background()))
	assert.Equal(t, []hidtest.Event{down(usageA), up(usageA)}, f.rec.Events())
	assert.EqualValues(t, 1, f.d.Stats().TextCanceled.Load())
}

func TestDispatcherSilenceCancelsQueuedText(t *testing.T) {
	f := newFixture(t, hid.Config{})
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "abc"}))
	f.clock.Advance(500 * ms)
	require.True(t, f.d.TypeNext(context.Background()))
	assert.Empty(t, f.rec.Events())
	assert.EqualValues(t, 1, f.d.Stats().TextCanceled.Load())
}

// releaseOnNth is a sink that, on its nth call, has a release-all arrive from the console on
// another goroutine, racing with the typist.
type releaseOnNth struct {
	*hidtest.Recorder
	n, calls int
	fire     func()
}

func (s *releaseOnNth) Key(u hid.Usage, isDown bool) error {
	s.calls++ // sink calls are serialized by the tracker
	if s.calls == s.n {
		go s.fire()
	}
	return s.Recorder.Key(u, isDown)
}

func TestDispatcherReleaseAllStopsTyping(t *testing.T) {
	sink := &releaseOnNth{Recorder: hidtest.NewRecorder(), n: 7}
	d, err := hid.NewDispatcher(hid.Config{Sink: sink, Clock: hidtest.NewClock()})
	require.NoError(t, err)
	defer d.Close()
	released := make(chan struct{})
	sink.fire = func() {
		d.HandleHID([]byte{byte(hid.TypeReleaseAll)})
		close(released)
	}
	d.HandleHID(enc(t, hid.TextMsg{Text: strings.Repeat("Ab", 2000)}))
	require.True(t, d.TypeNext(context.Background()))
	<-released

	keys, _ := sink.Pressed()
	assert.Empty(t, keys, "whichever wins the race, nothing stays pressed")
	assert.EqualValues(t, 1, d.Stats().TextCanceled.Load())
}

// cancelOnNth cancels a context on its nth key call.
type cancelOnNth struct {
	*hidtest.Recorder
	n, calls int
	cancel   context.CancelFunc
}

func (s *cancelOnNth) Key(u hid.Usage, isDown bool) error {
	s.calls++
	if s.calls == s.n {
		s.cancel()
	}
	return s.Recorder.Key(u, isDown)
}

func TestDispatcherContextEndStopsTypingMidText(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sink := &cancelOnNth{Recorder: hidtest.NewRecorder(), n: 3, cancel: cancel}
	d, err := hid.NewDispatcher(hid.Config{Sink: sink, Clock: hidtest.NewClock()})
	require.NoError(t, err)
	d.HandleHID(enc(t, hid.TextMsg{Text: "Abc"}))
	require.True(t, d.TypeNext(ctx))
	// The context ended during the third key call: nothing after it, not even the Shift release.
	assert.Equal(t, []hidtest.Event{down(shift), down(usageA), up(usageA)}, sink.Take())
	assert.EqualValues(t, 1, d.Stats().TextCanceled.Load())
	assert.Zero(t, d.Stats().TextTyped.Load())
	require.NoError(t, d.Close())
	assert.Equal(t, []hidtest.Event{up(shift)}, sink.Take(), "Close, which follows a context end in Run, releases")
}

func TestDispatcherRunTypesText(t *testing.T) {
	f := newFixture(t, hid.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.d.Run(ctx) }()
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "ok"}))

	wait, stop := context.WithTimeout(ctx, time.Minute) // a hang guard, not a timing assertion
	defer stop()
	require.NoError(t, f.rec.WaitFor(wait, 4))
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []hidtest.Event{down(0x12), up(0x12), down(0x0E), up(0x0E)}, f.rec.Events())
}

func TestDispatcherTextQueueBounded(t *testing.T) {
	f := newFixture(t, hid.Config{TextQueue: 2})
	big := enc(t, hid.TextMsg{Text: strings.Repeat("y", hid.MaxTextSize)})
	for range 5 {
		f.d.HandleHID(big)
	}
	assert.Equal(t, 2, f.d.TextQueued())
	snap := f.d.Stats().Snapshot().HID
	assert.EqualValues(t, 2, snap.Accepted)
	assert.EqualValues(t, 3, snap.Dropped[hid.DropTextQueueFull])

	require.NoError(t, f.d.Close())
	assert.Zero(t, f.d.TextQueued(), "Close frees the queue")
	assert.EqualValues(t, 2, f.d.Stats().TextCanceled.Load())
}

// SECURITY.md item 10: whatever the peer sends, memory stays bounded.
func TestDispatcherMemoryBounded(t *testing.T) {
	f := newFixture(t, hid.Config{RatePerSecond: 1e9, RateBurst: 1 << 30})
	big := enc(t, hid.TextMsg{Text: strings.Repeat("z", hid.MaxTextSize)})
	huge := make([]byte, 1<<20)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5000 { // 80 MiB of text, 5 GiB of oversized frames
		f.d.HandleHID(big)
		f.d.HandleHID(huge)
		f.d.HandlePointer(huge)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	assert.LessOrEqual(t, f.d.TextQueued(), f.d.TextQueueCap())
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, grown, int64(4<<20), "heap grew by %d bytes", grown)
	snap := f.d.Stats().Snapshot()
	assert.EqualValues(t, 5000, snap.HID.Dropped[hid.DropTooLarge])
	assert.EqualValues(t, 5000, snap.Pointer.Dropped[hid.DropTooLarge])
	assert.EqualValues(t, 5000, snap.HID.Accepted+snap.HID.Dropped[hid.DropTextQueueFull])
}

func TestDispatcherSinkErrors(t *testing.T) {
	var reported atomic.Int32
	f := newFixture(t, hid.Config{OnSinkError: func(error) { reported.Add(1) }})
	broken := errors.New("usb: host gone")
	f.rec.Fail(broken)
	f.key(t, ctrl, true)
	snap := f.d.Stats().Snapshot()
	assert.EqualValues(t, 1, snap.HID.Accepted, "a valid message counts as accepted")
	assert.EqualValues(t, 1, snap.SinkErrors)
	assert.EqualValues(t, 1, reported.Load())

	// The failed down may have pressed Ctrl, so Close tries to release it and reports failure.
	require.ErrorIs(t, f.d.Close(), broken)
	assert.EqualValues(t, 2, reported.Load())
}

func TestDispatcherSinkErrorStopsTyping(t *testing.T) {
	f := newFixture(t, hid.Config{})
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "abc"}))
	f.rec.Fail(errors.New("rfb: connection reset"))
	require.True(t, f.d.TypeNext(context.Background()))
	snap := f.d.Stats().Snapshot()
	assert.EqualValues(t, 1, snap.TextCanceled)
	assert.Zero(t, snap.TextTyped)
	assert.Equal(t, []hidtest.Event{down(usageA), up(usageA)}, f.rec.Events(),
		"the down failed, so the key counts as held and is released, then typing stops")
}

func TestDispatcherOnSinkErrorMayClose(t *testing.T) {
	rec := hidtest.NewRecorder()
	var d *hid.Dispatcher
	d, err := hid.NewDispatcher(hid.Config{Sink: rec, Clock: hidtest.NewClock(), OnSinkError: func(error) { _ = d.Close() }})
	require.NoError(t, err)
	rec.Fail(errors.New("gone"))
	d.HandleHID([]byte{0x01, 0x01, 0x00, 0x04})
	d.HandleHID([]byte{0x01, 0x01, 0x00, 0x05})
	assert.EqualValues(t, 1, d.Stats().HID.Dropped[hid.DropClosed].Load())
}

func TestNewDispatcherConfig(t *testing.T) {
	_, err := hid.NewDispatcher(hid.Config{})
	require.Error(t, err)
	_, err = hid.NewDispatcher(hid.Config{Sink: hidtest.NewRecorder(), RatePerSecond: -1})
	require.Error(t, err)
	d, err := hid.NewDispatcher(hid.Config{Sink: hidtest.NewRecorder()})
	require.NoError(t, err)
	assert.Equal(t, hid.DefaultTextQueue, d.TextQueueCap())
	require.NoError(t, d.Close())
}

func TestDropReasonLabels(t *testing.T) {
	seen := map[string]bool{}
	for r := range hid.NumDropReasons {
		label := r.String()
		assert.NotEqual(t, "unknown", label, "reason %d", r)
		assert.False(t, seen[label], "duplicate label %q", label)
		seen[label] = true
	}
}
