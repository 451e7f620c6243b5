package accounts

import (
	"container/list"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// ErrBusy means the node has more password hashing queued than it will wait for: the client
// should retry in a moment. Callers map it to 503 with Retry-After.
var ErrBusy = errors.New("accounts: too many logins at once")

// hasher hashes and verifies passwords with a bound on how many run at once (each holds
// Memory KiB and a core for ~50 ms) and on how many wait: a login flood must neither exhaust
// memory nor queue legitimate logins behind thousands of others.
//
// Work has two priorities. A real account's verification (and every hash) waits in a FIFO
// queue of at most maxQueue; past that it is refused with ErrBusy. The dummy verification
// that makes an unknown organization or user answer as slowly as a wrong password (burn) runs
// only when a slot is free, nothing real waits and it leaves a slot to real work; otherwise it
// is shed: see burn for what the client then sees.
type hasher struct {
	params   Argon2Params
	maxQueue int

	mu      sync.Mutex
	slots   int        // runs allowed at once
	inUse   int        // runs holding a slot (a waiter handed a slot counts)
	lowUse  int        // of which dummy runs
	lowMax  int        // dummy runs allowed at once: all slots but one (at least one)
	waiting *list.List // of chan struct{}, FIFO: real work waiting for a slot
	typical time.Duration

	runs atomic.Int64 // argon2 computations done
	shed atomic.Int64 // dummy verifications answered without computing
}

func newHasher(p Argon2Params, concurrent, maxQueue int) (*hasher, error) {
	if err := p.valid(); err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	concurrent = max(concurrent, 1)
	return &hasher{params: p, maxQueue: max(maxQueue, 0), slots: concurrent, lowMax: max(concurrent-1, 1), waiting: list.New()}, nil
}

// acquire takes a slot for real work, waiting in the queue; ErrBusy when the queue is full.
func (h *hasher) acquire(ctx context.Context) error {
	h.mu.Lock()
	if h.inUse < h.slots && h.waiting.Len() == 0 {
		h.inUse++
		h.mu.Unlock()
		return nil
	}
	if h.waiting.Len() >= h.maxQueue {
		h.mu.Unlock()
		return ErrBusy
	}
	ch := make(chan struct{}, 1)
	el := h.waiting.PushBack(ch)
	h.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		select {
		case <-ch: // handed a slot just now: give it on
			h.mu.Unlock()
			h.release(false)
		default:
			h.waiting.Remove(el)
			h.mu.Unlock()
		}
		return fmt.Errorf("accounts: waiting to hash a password: %w", ctx.Err())
	}
}

// tryAcquireLow takes a slot for dummy work if one is free, nothing real waits and a slot is
// left over for real work.
func (h *hasher) tryAcquireLow() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inUse >= h.slots || h.waiting.Len() > 0 || h.lowUse >= h.lowMax {
		return false
	}
	h.inUse++
	h.lowUse++
	return true
}

// release gives a slot back, or straight to the first waiter.
func (h *hasher) release(low bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if low {
		h.lowUse--
	}
	if front := h.waiting.Front(); front != nil {
		h.waiting.Remove(front)
		front.Value.(chan struct{}) <- struct{}{} // buffered: never blocks
		return
	}
	h.inUse--
}

// observe folds how long a real verification took, queue included, into typical.
func (h *hasher) observe(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.typical == 0 {
		h.typical = d
		return
	}
	h.typical += (d - h.typical) / 8
}

func (h *hasher) typicalVerify() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.typical
}

// burn verifies pw against the dummy hash encoded, for an unknown organization or user, so
// that the answer takes what a wrong password for a real user takes.
//
// Trade-off: when the hasher is idle (the normal case) burn really computes argon2, and the
// timing of an unknown account is that of a known one. Under load it is shed first: no argon2
// runs, the answer waits as long as recent real verifications took (their queueing included)
// and then is the same "bad credentials". That keeps the CPU for real accounts (a flood of
// made-up emails cannot slow a legitimate login by more than one hash) while keeping the
// timing oracle mostly closed: the imitation is an average, so an attacker who is himself
// overloading the node could, over many samples, tell a shed dummy from a real verification
// by its spread. We accept that over letting made-up accounts take every core; the
// per-address and per-account throttles bound how many samples one gets.
func (h *hasher) burn(ctx context.Context, encoded, pw string) {
	if h.tryAcquireLow() {
		defer h.release(true)
		p, salt, want, err := decodePHC(encoded)
		if err != nil {
			return
		}
		h.runs.Add(1)
		got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
		_ = subtle.ConstantTimeCompare(got, want)
		return
	}
	h.shed.Add(1)
	t := time.NewTimer(h.typicalVerify())
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
