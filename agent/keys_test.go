package agent

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// keysSent returns the keys batches sent, in order, with the sid each went under.
func keysSent(msgs []sentMsg) []sentMsg {
	var out []sentMsg
	for _, m := range msgs {
		if m.typ == wire.TypeKeys {
			out = append(out, m)
		}
	}
	return out
}

// strokesOf is every stroke of the batches sent under sid, in order, as KEY events.
func strokesOf(msgs []sentMsg, sid string) []hid.KeyMsg {
	var out []hid.KeyMsg
	for _, m := range keysSent(msgs) {
		if m.sid != sid {
			continue
		}
		for _, s := range m.data.(wire.Keys).Strokes {
			out = append(out, hid.KeyMsg{Usage: hid.Usage(s.Usage), Down: s.Down})
		}
	}
	return out
}

func downUp(u hid.Usage) []hid.KeyMsg { return []hid.KeyMsg{{Usage: u, Down: true}, {Usage: u}} }

// TestKeysCaptured: a session whose session-start asks for its keys has them reported while
// it holds control (and only then), within the batch interval, with when they were typed; a
// viewer's dropped keys are not reported although its session asked; a session that did not
// ask is never reported, in control or not.
func TestKeysCaptured(t *testing.T) {
	h := newSharedHarness(t)
	h.joinWith(t, "a", "ada", wire.GrantControl, true)
	h.joinWith(t, "v", "vic", wire.GrantView, true)
	h.join(t, "b", "bob", wire.GrantControl)
	h.relay.take()
	typedAt := h.clock.Now()

	h.key(t, "a", hid.UsageA, true)
	h.key(t, "v", hid.UsageZ, true) // dropped at the agent: never reported
	h.key(t, "b", hid.UsageZ, true)
	h.clock.Advance(50 * time.Millisecond)
	h.key(t, "a", hid.UsageA, false)
	h.d["a"].HandleHID([]byte{byte(hid.TypeWheel), 0, 1}) // pointer input: not a key
	assert.Empty(t, keysSent(h.relay.take()), "batched, not sent stroke by stroke")

	h.pass(keysFlushInterval)
	msgs := h.relay.take()
	sent := keysSent(msgs)
	require.Len(t, sent, 1)
	assert.Equal(t, "a", sent[0].sid)
	assert.Equal(t, wire.Keys{Strokes: []wire.KeyStroke{
		{T: typedAt.UnixMilli(), Usage: uint16(hid.UsageA), Down: true},
		{T: typedAt.Add(50 * time.Millisecond).UnixMilli(), Usage: uint16(hid.UsageA)},
	}}, sent[0].data)

	// b, who did not ask, takes control over: its keys reach the machine, unreported.
	h.control(t, "a", wire.ControlPass, "b")
	h.relay.take()
	h.key(t, "b", usageB, true)
	h.key(t, "b", usageB, false)
	h.pass(time.Second)
	assert.Empty(t, keysSent(h.relay.take()))
	assert.Zero(t, testutil.ToFloat64(h.metrics.KeysDropped))
}

// TestKeysBeforeTheirBurst: a burst's keys reach the relay before the burst, and a keys-only
// burst's digest is the digest of exactly those keys, whether the burst ends with a control
// move or is reported in parts; keys typed after the part was taken wait for the next.
func TestKeysBeforeTheirBurst(t *testing.T) {
	h := newSharedHarness(t)
	h.joinWith(t, "a", "ada", wire.GrantControl, true)
	h.join(t, "b", "bob", wire.GrantControl)
	h.relay.take()

	// A long stretch: its first part is reported at the burst interval.
	for _, k := range downUp(hid.UsageA) {
		h.key(t, "a", k.Usage, k.Down)
	}
	h.pass(testBurstInterval)
	msgs := h.relay.take()
	require.Len(t, bursts(msgs)["a"], 1)
	assertKeysMatchBurst(t, msgs, "a", downUp(hid.UsageA), bursts(msgs)["a"][0])

	// Then control moves before the batch interval is up: the keys go first.
	for _, k := range downUp(usageB) {
		h.key(t, "a", k.Usage, k.Down)
	}
	h.control(t, "a", wire.ControlPass, "b")
	msgs = h.relay.take()
	require.Len(t, bursts(msgs)["a"], 1)
	assert.True(t, bursts(msgs)["a"][0].Final)
	assertKeysMatchBurst(t, msgs, "a", downUp(usageB), bursts(msgs)["a"][0])
}

// assertKeysMatchBurst checks that msgs hold want as sid's keys, all sent before its burst b,
// and that b's digest is theirs.
func assertKeysMatchBurst(t *testing.T, msgs []sentMsg, sid string, want []hid.KeyMsg, b wire.InputBurst) {
	t.Helper()
	assert.Equal(t, want, strokesOf(msgs, sid))
	burstAt, lastKeys := -1, -1
	for i, m := range msgs {
		switch {
		case m.sid == sid && m.typ == wire.TypeInputBurst:
			burstAt = i
		case m.sid == sid && m.typ == wire.TypeKeys:
			lastKeys = i
		}
	}
	assert.Less(t, lastKeys, burstAt, "the keys go before their burst")
	assert.Equal(t, len(want), b.Keys)
	assert.Zero(t, b.Pointer)
	digest, err := hid.DigestKeys(want)
	require.NoError(t, err)
	assert.Equal(t, b.Digest, digest, "the burst's digest is its keys'")
}

// TestKeysBatches: a full batch goes at once, the rest at the interval; batches never carry
// more than keysBatch strokes.
func TestKeysBatches(t *testing.T) {
	h := newSharedHarness(t)
	h.joinWith(t, "a", "ada", wire.GrantControl, true)
	h.relay.take()
	var want []hid.KeyMsg
	typePairs := func(n int) {
		for range n {
			for _, k := range downUp(usageC) {
				h.key(t, "a", k.Usage, k.Down)
				want = append(want, k)
			}
		}
	}
	typePairs(keysBatch / 2)
	h.clock.Advance(0)
	sent := keysSent(h.relay.take())
	require.Len(t, sent, 1, "a full batch goes without waiting")
	assert.Len(t, sent[0].data.(wire.Keys).Strokes, keysBatch)

	typePairs(8)
	h.clock.Advance(0)
	assert.Empty(t, keysSent(h.relay.take()), "a partial batch waits")
	h.clock.Advance(keysFlushInterval)
	rest := keysSent(h.relay.take())
	require.Len(t, rest, 1)
	assert.Len(t, rest[0].data.(wire.Keys).Strokes, 16)

	// More than a batch waiting at once is split.
	typePairs(40)
	h.clock.Advance(keysFlushInterval)
	split := keysSent(h.relay.take())
	require.Len(t, split, 2)
	assert.Len(t, split[0].data.(wire.Keys).Strokes, keysBatch)
	assert.Len(t, split[1].data.(wire.Keys).Strokes, 80-keysBatch)
	assert.Equal(t, want, strokesOf(append(append(sent, rest...), split...), "a"))
}

// TestKeysDropped: when the relay connection does not take a batch, its strokes are counted,
// and the session's next batch says how many are missing; input is never held up. Beyond
// maxPendingKeys waiting strokes, new ones are dropped and counted too.
func TestKeysDropped(t *testing.T) {
	h := newSharedHarness(t)
	h.joinWith(t, "a", "ada", wire.GrantControl, true)
	h.relay.take()
	h.relay.mu.Lock()
	h.relay.refuseKeys = true
	h.relay.mu.Unlock()
	for _, k := range downUp(hid.UsageA) {
		h.key(t, "a", k.Usage, k.Down)
	}
	h.clock.Advance(keysFlushInterval)
	assert.InDelta(t, 2, testutil.ToFloat64(h.metrics.KeysDropped), 0)
	assert.Len(t, h.sink.Events(), 2, "the keys reached the machine all the same")

	h.relay.mu.Lock()
	h.relay.refuseKeys = false
	h.relay.mu.Unlock()
	for _, k := range downUp(usageB) {
		h.key(t, "a", k.Usage, k.Down)
	}
	h.clock.Advance(keysFlushInterval)
	sent := keysSent(h.relay.take())
	require.Len(t, sent, 1)
	assert.Equal(t, 2, sent[0].data.(wire.Keys).Dropped)
	assert.Equal(t, downUp(usageB), strokesOf(sent, "a"))

	// The relay is gone for a while: the queue is bounded.
	h.relay.mu.Lock()
	h.relay.refuseKeys = true
	h.relay.mu.Unlock()
	var typed int
	for typed < maxPendingKeys+10 {
		// Without advancing time the timer never fires: strokes only queue.
		h.m.floor.keys.add("a", hid.KeyStroke{At: h.clock.Now(), Usage: usageC, Down: typed%2 == 0, Burst: 1})
		typed++
	}
	h.m.floor.keys.mu.Lock()
	assert.Len(t, h.m.floor.keys.pending, maxPendingKeys)
	h.m.floor.keys.mu.Unlock()
	assert.InDelta(t, 2+10, testutil.ToFloat64(h.metrics.KeysDropped), 0)
}

// Keys of the test's typing (USB HID keyboard page).
const (
	usageB hid.Usage = 0x05
	usageC hid.Usage = 0x06
)
