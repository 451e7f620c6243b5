package turn

import (
	"sync"
	"time"
)

// revocations are the users (the user part of TURN REST usernames: the relay mints one per
// console session) whose credentials no longer work, however long before their expiry.
//
// Credentials are stateless (an HMAC over "expiry:user"), and pion asks for a key on every
// authenticated request, Refresh included, while the expiry is checked on Allocate only
// (keyring.auth): without this, a stopped session's credentials would allocate until they
// expire and keep refreshing forever. Each entry is kept until the latest expiry a credential
// minted before the revocation can have, so the set stays as small as the sessions that
// ended within one credential lifetime.
type revocations struct {
	mu    sync.Mutex
	until map[string]time.Time // user → when the entry may be forgotten
}

func newRevocations() *revocations {
	return &revocations{until: make(map[string]time.Time)}
}

// add revokes user until then, and forgets entries whose time has passed.
func (r *revocations) add(user string, until, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for u, t := range r.until {
		if now.After(t) {
			delete(r.until, u)
		}
	}
	if until.After(r.until[user]) {
		r.until[user] = until
	}
}

// has reports whether user's credentials are revoked at now.
func (r *revocations) has(user string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.until[user]
	return ok && !now.After(t)
}

// Revoke makes every credential of user (the user part of the username; a console session
// id for the relay's) fail from now on, for Allocate and for every request on an existing
// allocation, until until — at least the expiry of the last credential minted for it — and
// closes the allocations user holds on this server (their relay sockets and peer
// connections). It returns how many allocations it closed.
func (s *Server) Revoke(user string, until time.Time) int {
	if user == "" {
		return 0
	}
	s.revoked.add(user, until, s.now())
	n := s.relays.closeUser(user)
	if n > 0 {
		s.log.Info("turn: credentials revoked, allocations closed", "user", user, "allocations", n)
	}
	return n
}

// closeUser closes the relay sockets and listeners of user's allocations; pion's goroutine of
// each then fails to read and deletes the allocation. Peer connections of a TCP allocation
// close with their listener's context.
func (r *relays) closeUser(user string) int {
	r.mu.Lock()
	var victims []closer
	for c := range r.open {
		switch c := c.(type) {
		case *relayPacketConn:
			if c.user == user {
				victims = append(victims, c)
			}
		case *relayListener:
			if c.user == user {
				victims = append(victims, c)
			}
		case *peerConn:
			if c.l.user == user {
				victims = append(victims, c)
			}
		}
	}
	r.mu.Unlock()
	n := 0
	for _, c := range victims {
		if _, isPeer := c.(*peerConn); !isPeer {
			n++
		}
		c.closeNow()
	}
	return n
}
