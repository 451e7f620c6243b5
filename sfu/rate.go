package sfu

import "time"

// rateBuckets is how many slices a rateMeter's window has: fine enough that the window slides
// smoothly, few enough to sum at every frame.
const rateBuckets = 20

// rateMeter measures a bitrate over a sliding window, in slices of window/rateBuckets. A
// keyframe is a burst several frames big; the window averages it with the frames around it,
// which is what a link has to carry. Not safe for concurrent use.
type rateMeter struct {
	slice   time.Duration
	buckets [rateBuckets]int
	cur     int64 // index of the slice now filling, in slices since the epoch
	first   time.Time
	started bool
}

func newRateMeter(window time.Duration) *rateMeter {
	return &rateMeter{slice: max(window/rateBuckets, time.Millisecond)}
}

// add counts n bytes at now.
func (r *rateMeter) add(now time.Time, n int) {
	r.advance(now)
	r.buckets[r.cur%rateBuckets] += n
}

// advance moves the window to now, emptying the slices it passes.
func (r *rateMeter) advance(now time.Time) {
	idx := now.UnixNano() / int64(r.slice)
	if !r.started {
		r.started, r.first, r.cur = true, now, idx
		return
	}
	if idx <= r.cur {
		return
	}
	for i := r.cur + 1; i <= idx && i <= r.cur+rateBuckets; i++ {
		r.buckets[i%rateBuckets] = 0
	}
	r.cur = idx
}

// bitsPerSecond returns the rate over the window ending now; 0 until half a window has passed
// since the first byte, when a rate would say more about the start than about the stream.
func (r *rateMeter) bitsPerSecond(now time.Time) int {
	if !r.started {
		return 0
	}
	r.advance(now)
	span := min(now.Sub(r.first), r.slice*rateBuckets)
	if span < r.slice*rateBuckets/2 {
		return 0
	}
	total := 0
	for _, b := range r.buckets {
		total += b
	}
	return int(float64(total) * 8 / span.Seconds())
}
