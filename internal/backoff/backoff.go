// Package backoff yields retry delays: exponential from Min to Max with jitter, so a fleet of
// agents cut off by one relay restart, or one agent retrying a dead VNC server, does not
// retry in lockstep or in a tight loop.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff counts attempts; the zero value with Min and Max set is ready. Not safe for
// concurrent use.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the delay before the next attempt: between half and all of Min·2^attempts,
// capped at Max.
func (b *Backoff) Next() time.Duration {
	ceiling := b.Min << min(b.attempt, 16)
	if ceiling > b.Max || ceiling <= 0 {
		ceiling = b.Max
	}
	b.attempt++
	// Never below half the ceiling: full jitter down to zero would hammer a peer that is down.
	return ceiling/2 + rand.N(ceiling/2+1)
}

// Attempts is how many delays Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Reset starts over from Min (after a success).
func (b *Backoff) Reset() { b.attempt = 0 }
