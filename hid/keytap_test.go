package hid_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
)

// tapped collects what a seat's KeyTap receives.
type tapped struct {
	mu      sync.Mutex
	strokes []hid.KeyStroke
}

func (k *tapped) tap(s hid.KeyStroke) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.strokes = append(k.strokes, s)
}

func (k *tapped) take() []hid.KeyStroke {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.strokes
	k.strokes = nil
	return out
}

// keysOf is the KEY events of strokes.
func keysOf(strokes []hid.KeyStroke) []hid.KeyMsg {
	out := make([]hid.KeyMsg, len(strokes))
	for i, s := range strokes {
		out[i] = hid.KeyMsg{Usage: s.Usage, Down: s.Down}
	}
	return out
}

// TestSeatKeyTap: a tapped seat reports exactly the key events its bursts digest, with the
// burst each counts in: its keys and typed text while in control, not its pointer input, not
// its input while it watches, not another seat's; an untapped seat reports nothing.
func TestSeatKeyTap(t *testing.T) {
	s := newShared(t, "a", "b", "v")
	var a, v tapped
	s.seats["a"].TapKeys(a.tap)
	s.seats["v"].TapKeys(v.tap)
	s.control(t, "a")
	start := s.clock.Now()

	s.key(t, "a", ctrl, true)
	s.d["a"].HandleHID(enc(t, hid.WheelMsg{DY: 1}))
	s.clock.Advance(100 * time.Millisecond)
	s.key(t, "a", ctrl, false)
	s.key(t, "v", usageA, true) // a viewer's: dropped, never reported
	s.key(t, "b", usageA, true) // an untapped seat's, and dropped anyway
	s.d["a"].HandleHID(enc(t, hid.TextMsg{Text: "H"}))
	require.True(t, s.d["a"].TypeNext(context.Background()))

	peek, ok := s.arb.Burst()
	require.True(t, ok)
	got := a.take()
	require.Len(t, got, 6)
	assert.Equal(t, []hid.KeyMsg{{Usage: ctrl, Down: true}, {Usage: ctrl}, {Usage: shift, Down: true}, {Usage: 0x0B, Down: true}, {Usage: 0x0B}, {Usage: shift}}, keysOf(got))
	assert.Equal(t, start, got[0].At)
	assert.Equal(t, start.Add(100*time.Millisecond), got[1].At)
	for _, k := range got {
		assert.Equal(t, peek.Seq, k.Burst)
	}
	assert.Equal(t, peek.Keys, len(got), "the tap saw every key event the burst counts")
	assert.Empty(t, v.take(), "a viewer's keys are not reported")

	// A burst taken in parts: later strokes carry the next burst's number.
	taken, ok := s.arb.TakeBurst()
	require.True(t, ok)
	s.key(t, "a", usageA, true)
	s.key(t, "a", usageA, false)
	next := a.take()
	require.Len(t, next, 2)
	assert.Equal(t, taken.Seq+1, next[0].Burst)

	// Control moves to v: its keys are reported now, a's no longer.
	final := s.control(t, "v")
	assert.Equal(t, next[0].Burst, final.Seq)
	digest, err := hid.DigestKeys(keysOf(next))
	require.NoError(t, err)
	assert.Equal(t, final.Digest, digest, "a keys-only burst is checked against its keys")
	s.key(t, "a", usageA, true)
	s.key(t, "v", usageA, true)
	assert.Empty(t, a.take())
	assert.Equal(t, []hid.KeyMsg{{Usage: usageA, Down: true}}, keysOf(v.take()))

	// Untapped: nothing more.
	s.seats["v"].TapKeys(nil)
	s.key(t, "v", usageA, false)
	assert.Empty(t, v.take())
}

// TestDigestKeys: a burst's digest comes from its keys when it had no pointer events, and not
// when it had.
func TestDigestKeys(t *testing.T) {
	keys := []hid.KeyMsg{{Usage: usageA, Down: true}, {Usage: usageA}}
	for _, tc := range []struct {
		name    string
		events  []hid.Message
		matches bool
	}{
		{name: "keys only", events: []hid.Message{keys[0], keys[1]}, matches: true},
		{name: "with a pointer event", events: []hid.Message{keys[0], hid.WheelMsg{DY: 1}, keys[1]}},
		{name: "other order", events: []hid.Message{keys[1], keys[0]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			burst, err := hid.DigestEvents(tc.events)
			require.NoError(t, err)
			got, err := hid.DigestKeys(keys)
			require.NoError(t, err)
			assert.Equal(t, tc.matches, burst == got)
		})
	}
	_, err := hid.DigestKeys([]hid.KeyMsg{{Usage: 0}})
	assert.Error(t, err)
}
