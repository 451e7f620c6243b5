package turn

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// bandwidth caps one allocation's relayed payload, each direction on its own token bucket
// (MaxBitsPerSecond applies to client→peer and to peer→client separately).
//
// UDP over the cap is dropped, not delayed: the client→peer path runs on pion's read loop of
// the whole listener, so waiting there would stall every other client. TCP (RFC 6062 data
// connections, one goroutine each) is delayed, which is what TCP expects.
type bandwidth struct {
	to, from *rate.Limiter // nil: unlimited
	now      func() time.Time
}

// minBurst lets a full datagram or a small burst through even at very low rates.
const minBurst = 16 << 10

func newBandwidth(bitsPerSecond int64, now func() time.Time) *bandwidth {
	b := &bandwidth{now: now}
	if bitsPerSecond <= 0 {
		return b
	}
	bytesPerSec := float64(bitsPerSecond) / 8
	// Half a second of traffic: room for a video keyframe without making the cap loose.
	burst := max(int(bytesPerSec/2), minBurst)
	b.to = rate.NewLimiter(rate.Limit(bytesPerSec), burst)
	b.from = rate.NewLimiter(rate.Limit(bytesPerSec), burst)
	b.to.AllowN(now(), 0) // start the buckets full at the injected clock's time
	b.from.AllowN(now(), 0)
	return b
}

func (b *bandwidth) limiter(toPeer bool) *rate.Limiter {
	if toPeer {
		return b.to
	}
	return b.from
}

// allow takes n bytes from the bucket if they are there (UDP).
func (b *bandwidth) allow(toPeer bool, n int) bool {
	l := b.limiter(toPeer)
	return l == nil || l.AllowN(b.now(), n)
}

// wait blocks until n bytes may pass (TCP), in pieces no larger than the burst. It reports
// whether it had to wait at all.
func (b *bandwidth) wait(ctx context.Context, toPeer bool, n int) (delayed bool, err error) {
	l := b.limiter(toPeer)
	if l == nil {
		return false, nil
	}
	for n > 0 {
		chunk := min(n, l.Burst())
		if !l.AllowN(b.now(), chunk) {
			delayed = true
			if err := l.WaitN(ctx, chunk); err != nil {
				return delayed, err
			}
		}
		n -= chunk
	}
	return delayed, nil
}
