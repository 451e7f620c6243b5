package agent

import (
	"errors"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Full keystroke capture: an organization may record the keys typed in its sessions
// (passwords typed at BIOS prompts among them, so it is off by default). The relay asks for
// them per session (wire.SessionStart.CaptureKeys); the machine's floor reports the keys of
// such a session while it holds control, exactly the KEY events its input bursts digest
// (hid.Seat.TapKeys), in batches (wire.Keys) that go out before the burst they count in, so
// a recording's keys can be checked against the audit chain's digests. Input never waits
// for the relay: strokes the relay does not take in time are dropped and counted.

// Batching of reported keys.
const (
	// keysFlushInterval is the longest a stroke waits before it is sent.
	keysFlushInterval = 250 * time.Millisecond
	// keysBatch is the most strokes one message carries; a full batch is sent at once.
	keysBatch = 64
	// maxPendingKeys bounds the strokes waiting to be sent (a pasted text types fast);
	// beyond it they are dropped and counted.
	maxPendingKeys = 4096
)

// pendingKey is one stroke waiting to be sent, and the session that typed it.
type pendingKey struct {
	sid string
	k   hid.KeyStroke
}

// keyReporter batches a machine's captured key strokes. Its taps run under the Arbiter's
// lock and only queue; flush sends, called by the floor with its lock held so that keys and
// bursts reach the relay in the order they happened.
type keyReporter struct {
	clock hid.Clock
	// send delivers one batch; an error means the relay connection did not take it.
	send func(sid string, k wire.Keys) error
	// onTimer flushes everything through the floor (floor.flushKeys).
	onTimer func()
	// onDrop counts dropped strokes (metrics).
	onDrop func(n int)

	mu      sync.Mutex
	closed  bool
	pending []pendingKey
	// dropped counts, by session, strokes lost since its last batch (told in the next one).
	dropped map[string]int
	timer   hid.Timer
}

func newKeyReporter(clock hid.Clock, send func(string, wire.Keys) error, onTimer func(), onDrop func(int)) *keyReporter {
	if onDrop == nil {
		onDrop = func(int) {}
	}
	return &keyReporter{clock: clock, send: send, onTimer: onTimer, onDrop: onDrop, dropped: make(map[string]int)}
}

// tap is the KeyTap of session sid's seat.
func (r *keyReporter) tap(sid string) hid.KeyTap {
	return func(k hid.KeyStroke) { r.add(sid, k) }
}

// add queues one stroke; called under the Arbiter's lock, so it only queues and arms the timer.
func (r *keyReporter) add(sid string, k hid.KeyStroke) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if len(r.pending) >= maxPendingKeys {
		r.dropped[sid]++
		r.onDrop(1)
		return
	}
	r.pending = append(r.pending, pendingKey{sid: sid, k: k})
	switch {
	case r.timer == nil:
		r.timer = r.clock.AfterFunc(keysFlushInterval, r.onTimer)
	case len(r.pending)%keysBatch == 0:
		// A full batch goes now, on the timer's goroutine (not on the input's).
		r.timer.Reset(0)
	}
}

// flush sends the strokes that count in bursts up to upTo (all of them when all is set), in
// order, in batches of one session's consecutive strokes. The caller holds the floor's lock.
func (r *keyReporter) flush(upTo uint64, all bool) {
	r.mu.Lock()
	n := 0
	for n < len(r.pending) && (all || r.pending[n].k.Burst <= upTo) {
		n++
	}
	take := r.pending[:n:n]
	r.pending = append([]pendingKey(nil), r.pending[n:]...)
	var batches []keysBatchOf
	for i := 0; i < len(take); {
		j := i + 1
		for j < len(take) && j-i < keysBatch && take[j].sid == take[i].sid {
			j++
		}
		b := keysBatchOf{sid: take[i].sid, keys: wire.Keys{Strokes: make([]wire.KeyStroke, 0, j-i), Dropped: r.dropped[take[i].sid]}}
		delete(r.dropped, take[i].sid)
		var last int64
		for _, p := range take[i:j] {
			// Strokes are in the order they reached the machine; a wall clock stepping back
			// must not reorder them.
			last = max(p.k.At.UnixMilli(), last)
			b.keys.Strokes = append(b.keys.Strokes, wire.KeyStroke{T: last, Usage: uint16(p.k.Usage), Down: p.k.Down})
		}
		batches = append(batches, b)
		i = j
	}
	r.rearmLocked()
	r.mu.Unlock()
	for _, b := range batches {
		if err := b.keys.Check(); err != nil {
			// A wall clock that jumped a minute within a batch: the keys cannot be placed.
			r.lost(b.sid, len(b.keys.Strokes))
			continue
		}
		if err := r.send(b.sid, b.keys); err != nil {
			r.lost(b.sid, len(b.keys.Strokes))
		}
	}
}

// keysBatchOf is one message to send: a session's strokes.
type keysBatchOf struct {
	sid  string
	keys wire.Keys
}

// lost counts strokes that could not be sent; the session's next batch says so.
func (r *keyReporter) lost(sid string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped[sid] += n
	r.onDrop(n)
}

// rearmLocked keeps the timer running while strokes wait, and stops it otherwise.
func (r *keyReporter) rearmLocked() {
	switch {
	case r.timer == nil:
	case len(r.pending) == 0 || r.closed:
		r.timer.Stop()
		r.timer = nil
	default:
		r.timer.Reset(keysFlushInterval)
	}
}

// forget drops what session sid still has waiting to be told (it left).
func (r *keyReporter) forget(sid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.dropped, sid)
}

// close stops the timer and drops what waits: the machine is forgotten.
func (r *keyReporter) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.pending = nil
	r.rearmLocked()
}

// errNoRelay is a batch sent while the agent is not connected to the relay.
var errNoRelay = errors.New("agent: not connected to the relay")

// trySend delivers a message to the relay, saying whether the connection took it.
func (a *Agent) trySend(sid string, t wire.Type, data any) error {
	l := a.relay.Load()
	if l == nil {
		return errNoRelay
	}
	return l.Send(t, sid, data)
}

// tapKeys captures session sid's keys from now on: its seat reports them while it holds
// control. A floor without a way to send them captures nothing.
func (f *floor) tapKeys(seat *hid.Seat) {
	if f.keys != nil {
		seat.TapKeys(f.keys.tap(seat.SID()))
	}
}

// flushKeys sends every captured stroke waiting (the batch timer). Under the floor's lock,
// no burst is between its end and its report: what waits belongs to bursts not yet reported.
func (f *floor) flushKeys() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys != nil && !f.closed {
		f.keys.flush(0, true)
	}
}

// flushKeysLocked sends the captured strokes of burst b and those before, ahead of b's report.
func (f *floor) flushKeysLocked(b hid.Burst) {
	if f.keys != nil {
		f.keys.flush(b.Seq, false)
	}
}

// forgetKeysLocked drops the drop count of a session that left.
func (f *floor) forgetKeysLocked(sid string) {
	if f.keys != nil {
		f.keys.forget(sid)
	}
}
