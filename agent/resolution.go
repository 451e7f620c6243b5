package agent

import (
	"time"
)

// The resolution ladder: when the path cannot carry legible text at the source's size, the
// stream sends a smaller picture, and goes back up when it can. A smaller picture sharp
// enough to read beats a full-size one that smears or stalls: a 1080p keyframe at 300 kbit/s
// takes seconds to arrive, a 640×360 one a fraction of that.
//
// The estimate alone is not evidence that the path is thin. A console at a prompt sends far
// less than the link carries (it is application-limited), and GCC, on one delay spike (a
// busy relay, a GC pause), sets the estimate to 0.85 × what arrives — for a static screen
// the encoder's minimum — and then lets it grow only to about 1.5 × what arrives, without
// probing. Read as capacity, that number would shrink a console on a perfect LAN for the rest
// of its session. So the ladder steps down only when the estimate is below the step's need
// AND the path shows congestion (delay overuse, or loss) for longer than one spike; and,
// at a reduced step, it tries the next larger one after a quiet period without congestion,
// backing off (doubling the quiet period) when congestion follows the try, so a truly thin
// link does not oscillate.
const (
	// legibleBitsPerPixel is the bitrate (bits/s per pixel of the sent picture) below which
	// console text stops being readable once anything moves (measured with x264 on the test
	// pattern: at 0.3 a 1080p terminal is readable, at 0.15 it smears).
	legibleBitsPerPixel = 0.3
	// downAfter is how long the estimate must stay below the need, with sustained congestion,
	// before stepping down; upAfter how long it must clear the next step's need (with
	// upMargin) before stepping up on the estimate's word.
	downAfter = time.Second
	upAfter   = 4 * time.Second
	upMargin  = 1.5
	// Congestion evidence comes in episodes: readings showing congestion no more than
	// congestionGap apart belong to one. An episode is sustained once it spans congestionSpan:
	// one delay spike shows overuse for a few hundred milliseconds; a thin link keeps showing
	// it (GCC overshoots it every few seconds) or keeps losing packets.
	congestionGap  = 3 * time.Second
	congestionSpan = time.Second
	// quietBefore is how long a reduced step must see no congestion before trying the next
	// larger one; each try that congestion follows within probeWatch doubles it, up to
	// quietMax. A try that survives probeWatch resets it.
	quietBefore = 10 * time.Second
	quietMax    = 2 * time.Minute
	probeWatch  = 5 * time.Second
	// minSentWidth is the smallest picture worth sending.
	minSentWidth = 480
)

// ladderSteps are the sizes tried, as fractions of the source's: 1, 2/3, 1/2, 1/3.
var ladderSteps = [...][2]int{{1, 1}, {2, 3}, {1, 2}, {1, 3}}

// pathReading is what the ladder learns about one session's path at one moment: its
// bandwidth estimate (0: none yet) and whether it shows congestion now (a fresh delay
// overuse, or loss GCC will not raise its estimate through).
type pathReading struct {
	bps       int
	congested bool
}

// ladderStep says what a call to size did: nothing, or which way it stepped and why.
type ladderStep string

const (
	stepNone ladderStep = ""
	// stepDown: the estimate was below the need with sustained congestion.
	stepDown ladderStep = "down"
	// stepBack: congestion followed a probe; back down, and wait twice as long.
	stepBack ladderStep = "back"
	// stepUp: the estimate comfortably clears the next step's need.
	stepUp ladderStep = "up"
	// stepProbe: no congestion for the quiet period; try the next step up.
	stepProbe ladderStep = "probe"
)

// ladder picks the size to send from what the paths show. Not safe for concurrent use (the
// stream's loop owns it).
type ladder struct {
	level        int
	below, above time.Time // since when the estimate has been below / comfortably above
	// congSince and congLast bound the current congestion episode on a path below the need;
	// strained is when a path below the next larger step's need last showed congestion.
	congSince, congLast time.Time
	strained            time.Time
	// changed is when the level last changed; probed when the last probe up happened (zero
	// once it survived or failed); quiet the wait before the next probe (0: quietBefore).
	changed time.Time
	probed  time.Time
	quiet   time.Duration
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

// lowestEstimate is the smallest estimate among the paths (0: none yet): with several
// viewers the stream must fit the worst path.
func lowestEstimate(paths []pathReading) int {
	lowest := 0
	for _, p := range paths {
		if p.bps > 0 && (lowest == 0 || p.bps < lowest) {
			lowest = p.bps
		}
	}
	return lowest
}

// congested reports whether the ladder holds sustained congestion evidence at now: the
// current episode is fresh and spans congestionSpan.
func (l *ladder) congested(now time.Time) bool {
	return !l.congLast.IsZero() && now.Sub(l.congLast) <= congestionGap && l.congLast.Sub(l.congSince) >= congestionSpan
}

// note records the paths' congestion at now. For stepping down only a path whose estimate
// is below what the current size needs counts: a congested path that still carries the
// picture is no reason to shrink it for everyone. For probing up, congestion on a path that
// could not carry the next larger size (neededUp) postpones the try.
func (l *ladder) note(paths []pathReading, needed, neededUp float64, now time.Time) {
	for _, p := range paths {
		if !p.congested || p.bps <= 0 {
			continue
		}
		if float64(p.bps) < neededUp {
			l.strained = now
		}
		if float64(p.bps) >= needed || now.Equal(l.congLast) {
			continue
		}
		if l.congLast.IsZero() || now.Sub(l.congLast) > congestionGap {
			l.congSince = now
		}
		l.congLast = now
	}
}

// move changes the level by delta at now and starts every wait over; congestion evidence
// must build again at the new size.
func (l *ladder) move(delta int, now time.Time) {
	l.level += delta
	l.below, l.above = time.Time{}, time.Time{}
	l.congSince, l.congLast, l.strained = time.Time{}, time.Time{}, time.Time{}
	l.changed = now
}

func (l *ladder) quietPeriod() time.Duration {
	if l.quiet <= 0 {
		return quietBefore
	}
	return l.quiet
}

// size returns the size to send for a w×h source frame given the paths' readings at now,
// and the step it took, if any. With no estimate yet it sends full size.
func (l *ladder) size(w, h int, paths []pathReading, now time.Time) (int, int, ladderStep) {
	sw, sh, ok := stepSize(w, h, l.level)
	if !ok { // the source shrank below this step: start over
		*l = ladder{}
		sw, sh, _ = stepSize(w, h, 0)
	}
	bps := lowestEstimate(paths)
	if bps <= 0 {
		return sw, sh, stepNone
	}
	needed, neededUp := need(sw, sh), 0.0
	if uw, uh, ok := stepSize(w, h, l.level-1); ok {
		neededUp = need(uw, uh)
	}
	l.note(paths, needed, neededUp, now)
	below := float64(bps) < needed

	// Right after a probe: congestion on a path that cannot carry the new size sends the
	// picture back down at once, and the next try waits twice as long.
	if !l.probed.IsZero() {
		switch {
		case below && !l.congLast.IsZero() && !l.congLast.Before(l.probed):
			if dw, dh, ok := stepSize(w, h, l.level+1); ok {
				l.quiet = min(2*l.quietPeriod(), quietMax)
				l.probed = time.Time{}
				l.move(+1, now)
				return dw, dh, stepBack
			}
		case now.Sub(l.probed) >= probeWatch:
			l.quiet, l.probed = 0, time.Time{}
		}
	}

	// Down: below what this step needs for long enough, with sustained congestion, and a
	// smaller step exists.
	if below {
		if l.below.IsZero() {
			l.below = now
		}
		if now.Sub(l.below) >= downAfter && l.congested(now) {
			if dw, dh, ok := stepSize(w, h, l.level+1); ok {
				l.move(+1, now)
				return dw, dh, stepDown
			}
		}
	} else {
		l.below = time.Time{}
	}
	if l.level == 0 {
		return sw, sh, stepNone
	}
	uw, uh, _ := stepSize(w, h, l.level-1)
	// Up: comfortably above what the next larger step needs, for long enough.
	if float64(bps) >= upMargin*need(uw, uh) {
		if l.above.IsZero() {
			l.above = now
		}
		if now.Sub(l.above) >= upAfter {
			l.probed = time.Time{}
			l.move(-1, now)
			return uw, uh, stepUp
		}
	} else {
		l.above = time.Time{}
	}
	// Probe: no congestion for the quiet period (the estimate of an application-limited
	// stream never clears the bar above, so it cannot be waited for).
	quietSince := l.changed
	if l.strained.After(quietSince) {
		quietSince = l.strained
	}
	if l.probed.IsZero() && now.Sub(quietSince) >= l.quietPeriod() {
		l.move(-1, now)
		l.probed = now
		return uw, uh, stepProbe
	}
	return sw, sh, stepNone
}
