package agent

import (
	"math/rand/v2"
	"time"
)

// backoff yields reconnect delays: exponential from Min to Max with full jitter, so a fleet of
// agents cut off by one relay restart does not reconnect in lockstep.
type backoff struct {
	Min, Max time.Duration
	attempt  int
}

func (b *backoff) next() time.Duration {
	ceiling := b.Min << min(b.attempt, 16)
	if ceiling > b.Max || ceiling <= 0 {
		ceiling = b.Max
	}
	b.attempt++
	// Never below half the ceiling: full jitter down to zero would hammer a relay that is down.
	return ceiling/2 + rand.N(ceiling/2+1)
}

func (b *backoff) reset() { b.attempt = 0 }
