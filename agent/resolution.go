package agent

import (
	"time"
)

// The resolution ladder: when the bandwidth estimate cannot carry legible text at the
// source's size, the stream sends a smaller picture, and goes back up when it recovers. A
// smaller picture sharp enough to read beats a full-size one that smears or stalls: a 1080p
// keyframe at 300 kbit/s takes seconds to arrive, a 640×360 one a fraction of that.
const (
	// legibleBitsPerPixel is the bitrate (bits/s per pixel of the sent picture) below which
	// console text stops being readable once anything moves (measured with x264 on the test
	// pattern: at 0.3 a 1080p terminal is readable, at 0.15 it smears).
	legibleBitsPerPixel = 0.3
	// downAfter is how long the estimate must stay below the need before stepping down;
	// upAfter how long it must clear the next step's need (with upMargin) before stepping up.
	downAfter = time.Second
	upAfter   = 4 * time.Second
	upMargin  = 1.5
	// minSentWidth is the smallest picture worth sending.
	minSentWidth = 480
)

// ladderSteps are the sizes tried, as fractions of the source's: 1, 2/3, 1/2, 1/3.
var ladderSteps = [...][2]int{{1, 1}, {2, 3}, {1, 2}, {1, 3}}

// ladder follows the estimate. Not safe for concurrent use (the stream's loop owns it).
type ladder struct {
	level        int
	below, above time.Time // since when the estimate has been below / comfortably above
}

// stepSize is the even size of step level for a w×h source; ok is false when the step is
// below minSentWidth (or does not exist).
func stepSize(w, h, level int) (sw, sh int, ok bool) {
	if level < 0 || level >= len(ladderSteps) {
		return 0, 0, false
	}
	num, den := ladderSteps[level][0], ladderSteps[level][1]
	sw, sh = (w*num/den)&^1, (h*num/den)&^1
	if level > 0 && sw < minSentWidth {
		return 0, 0, false
	}
	return sw, sh, sw > 0 && sh > 0
}

func need(w, h int) float64 { return float64(w*h) * legibleBitsPerPixel }

// size returns the size to send for a w×h source frame, given the estimate bps (0: none
// yet, send full size) at now.
func (l *ladder) size(w, h, bps int, now time.Time) (int, int) {
	sw, sh, ok := stepSize(w, h, l.level)
	if !ok { // the source shrank below this step: start over
		l.level, l.below, l.above = 0, time.Time{}, time.Time{}
		sw, sh, _ = stepSize(w, h, 0)
	}
	if bps <= 0 {
		return sw, sh
	}
	// Down: below what this step needs for long enough, and a smaller step exists.
	if float64(bps) < need(sw, sh) {
		if l.below.IsZero() {
			l.below = now
		}
		if now.Sub(l.below) >= downAfter {
			if dw, dh, ok := stepSize(w, h, l.level+1); ok {
				// The evidence goes on counting: a second more below the smaller step's
				// need takes the next step.
				l.level++
				l.below, l.above = now, time.Time{}
				return dw, dh
			}
		}
	} else {
		l.below = time.Time{}
	}
	// Up: comfortably above what the next larger step needs, for long enough.
	if uw, uh, ok := stepSize(w, h, l.level-1); ok && l.level > 0 && float64(bps) >= upMargin*need(uw, uh) {
		if l.above.IsZero() {
			l.above = now
		}
		if now.Sub(l.above) >= upAfter {
			l.level--
			l.below, l.above = time.Time{}, time.Time{}
			return uw, uh
		}
	} else {
		l.above = time.Time{}
	}
	return sw, sh
}
