package accounts

import (
	"context"
	"sync"
	"time"
)

// rotations remembers, for the grace window, which successor each refresh token was rotated
// to by this process.
//
// Why: a browser with two tabs (or a tab and a service worker) that refresh at the same moment
// present the same refresh token twice. The store rotates it for the first and, rightly for a
// replay, calls the second a reuse, which revokes the whole family: the user is logged out of
// every tab for having two. Within a short window after a rotation, a second presentation of
// the rotated token from the same client address is answered with the very pair the first got
// (the successor is not rotated again, so the family stays one chain and the second tab's
// answer is as good as the first's). That is no new credential: whoever presents the token
// held it already, and the pair they get is the one its legitimate holder just got.
//
// What it does not weaken: outside the window, or from another address, a rotated token is a
// reuse as before (family revoked, audited). A family revoked meanwhile (logout, a detected
// reuse, password change, disabling) drops its entries here, and an access token handed out
// again is still checked against the user's cut-off on every request. Entries live only in
// this process: a second presentation that reaches another relay node is treated as reuse —
// the safe side.
//
// Concurrent presentations (the usual case) wait for the first one's rotation instead of
// racing it: the first to arrive leads, the others take its result.
type rotations struct {
	grace time.Duration
	max   int

	mu        sync.Mutex
	m         map[string]*rotation // by the rotated token's hash
	lastSweep time.Time
}

type rotation struct {
	done   chan struct{} // closed once the leader finished
	family string
	user   string
	addr   string // addrKey of the client that rotated
	ok     bool   // the rotation succeeded; tokens are its answer
	tokens Tokens
	at     time.Time // when it finished
}

func newRotations(grace time.Duration, max int) *rotations {
	return &rotations{grace: grace, max: max, m: make(map[string]*rotation)}
}

// begin registers a presentation of hash at now. It returns the rotation to answer from when
// another presentation is under way or succeeded within the grace window (wait for it with
// result), or lead = true when this caller must rotate and then call finish.
func (r *rotations) begin(rt refreshToken, addr string, now time.Time) (prev *rotation, lead bool) {
	if r.grace <= 0 {
		return nil, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[rt.hash]; ok {
		select {
		case <-e.done:
			if e.ok && now.Sub(e.at) <= r.grace {
				return e, false
			}
			// Failed or expired: this presentation is judged afresh.
		default:
			return e, false // under way
		}
	}
	// Sweep at most once per window: entries hold live successor tokens, which should not
	// outstay their use.
	if len(r.m) >= r.max || now.Sub(r.lastSweep) > r.grace {
		r.expire(now)
		r.lastSweep = now
	}
	if len(r.m) >= r.max {
		// Full of live entries: this presentation gets no grace (a concurrent second one
		// would count as reuse), which is the safe side.
		return nil, true
	}
	r.m[rt.hash] = &rotation{done: make(chan struct{}), family: rt.familyID, user: rt.userID, addr: addr}
	return nil, true
}

// finish records the leader's outcome for hash and wakes those waiting.
func (r *rotations) finish(hash string, ok bool, t Tokens, now time.Time) {
	if r.grace <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, found := r.m[hash]
	if !found {
		return
	}
	select {
	case <-e.done:
		return // not this leader's entry
	default:
	}
	e.ok, e.tokens, e.at = ok, t, now
	if !ok {
		delete(r.m, hash)
	}
	close(e.done)
}

// result waits for prev and returns its tokens when they may answer a presentation from addr
// at now: the rotation succeeded, within the grace window, for the same client address, and
// its family was not revoked meanwhile.
func (r *rotations) result(ctx context.Context, prev *rotation, addr string, now time.Time) (Tokens, bool, error) {
	select {
	case <-prev.done:
	case <-ctx.Done():
		return Tokens{}, false, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !prev.ok || prev.addr != addr || now.Sub(prev.at) > r.grace {
		return Tokens{}, false, nil
	}
	for _, e := range r.m {
		if e == prev {
			return prev.tokens, true, nil
		}
	}
	return Tokens{}, false, nil // dropped: its family was revoked
}

// forgetFamily drops the entries of a revoked family.
func (r *rotations) forgetFamily(family string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, e := range r.m {
		if e.family == family {
			delete(r.m, h)
		}
	}
}

// forgetUser drops the entries of a user whose refresh tokens were all revoked.
func (r *rotations) forgetUser(userID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, e := range r.m {
		if e.user == userID {
			delete(r.m, h)
		}
	}
}

// expire drops finished entries older than the grace window (the caller holds mu).
func (r *rotations) expire(now time.Time) {
	for h, e := range r.m {
		select {
		case <-e.done:
			if now.Sub(e.at) > r.grace {
				delete(r.m, h)
			}
		default:
		}
	}
}
