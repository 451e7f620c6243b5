package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// ladderCall is one call of the ladder in a scenario: the paths' readings at a moment, the
// size the ladder must send, and the step it must report.
type ladderCall struct {
	at    time.Duration
	paths []pathReading
	want  [2]int
	step  ladderStep
}

// one is a single path's reading.
func one(bps int, congested bool) []pathReading {
	return []pathReading{{bps: bps, congested: congested}}
}

// every repeats a reading every 100 ms over [from, to), expecting size want and no step: a
// stream's frames ask the ladder many times a second.
func every(from, to time.Duration, paths []pathReading, want [2]int) []ladderCall {
	var calls []ladderCall
	for at := from; at < to; at += 100 * time.Millisecond {
		calls = append(calls, ladderCall{at, paths, want, stepNone})
	}
	return calls
}

func scenario(parts ...[]ladderCall) []ladderCall {
	var calls []ladderCall
	for _, p := range parts {
		calls = append(calls, p...)
	}
	return calls
}

func at(d time.Duration, paths []pathReading, want [2]int, step ladderStep) []ladderCall {
	return []ladderCall{{d, paths, want, step}}
}

var (
	p1080 = [2]int{1920, 1080}
	p720  = [2]int{1280, 720}
	p540  = [2]int{960, 540}
	p360  = [2]int{640, 360}
)

const sec = time.Second

func TestLadderStepsOnCongestionNotOnALowEstimate(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name  string
		w, h  int
		calls []ladderCall
	}{
		{"no estimate yet: full size", 1920, 1080, at(0, nil, p1080, stepNone)},
		{"plenty: full size", 1920, 1080, every(0, 10*sec, one(2_000_000, false), p1080)},
		{
			// The bench's case: one delay spike collapses the estimate of a console at a
			// prompt to the encoder's minimum, which an application-limited stream never
			// lifts. Nothing after it shows congestion: the picture stays full size.
			"a collapse after one spike keeps full size", 1920, 1080, scenario(
				every(0, 2*sec, one(2_000_000, false), p1080),
				every(2*sec, 2300*time.Millisecond, one(150_000, true), p1080),
				every(2300*time.Millisecond, 60*sec, one(150_000, false), p1080),
			),
		},
		{
			"spikes further apart than an episode keep full size", 1920, 1080, scenario(
				at(0, one(150_000, true), p1080, stepNone),
				every(100*time.Millisecond, 4*sec, one(150_000, false), p1080),
				at(4*sec, one(150_000, true), p1080, stepNone),
				every(4100*time.Millisecond, 8*sec, one(150_000, false), p1080),
			),
		},
		{
			"congestion on a path that carries the picture changes nothing", 1920, 1080,
			every(0, 10*sec, one(2_000_000, true), p1080),
		},
		{
			"a dip shorter than a second changes nothing, congested or not", 1920, 1080, scenario(
				every(0, 700*time.Millisecond, one(300_000, true), p1080),
				every(700*time.Millisecond, 1500*time.Millisecond, one(2_000_000, false), p1080),
				every(1500*time.Millisecond, 2200*time.Millisecond, one(300_000, true), p1080),
			),
		},
		{
			// A 500 kbit/s link losing packets: congestion evidence all the time.
			"sustained congestion: down within downAfter, one step a second until legible", 1920, 1080, scenario(
				every(0, sec, one(500_000, true), p1080),
				at(sec, one(500_000, true), p720, stepDown),
				every(1100*time.Millisecond, 10*sec, one(500_000, true), p720), // 1280×720 needs 276 kbit/s
			),
		},
		{
			"congestion that recurs within an episode steps down", 1920, 1080, scenario(
				at(0, one(400_000, true), p1080, stepNone),
				every(100*time.Millisecond, 1500*time.Millisecond, one(400_000, false), p1080),
				at(1500*time.Millisecond, one(400_000, true), p720, stepDown),
			),
		},
		{
			"starved: down to the smallest step worth sending", 1920, 1080, scenario(
				every(0, sec, one(50_000, true), p1080),
				at(sec, one(50_000, true), p720, stepDown),
				// Each smaller step needs its own second of congestion: the first reading at
				// the new size is a frame later.
				every(1100*time.Millisecond, 2100*time.Millisecond, one(50_000, true), p720),
				at(2100*time.Millisecond, one(50_000, true), p540, stepDown),
				every(2200*time.Millisecond, 3200*time.Millisecond, one(50_000, true), p540),
				at(3200*time.Millisecond, one(50_000, true), p360, stepDown),
				every(3300*time.Millisecond, 6*sec, one(50_000, true), p360),
			),
		},
		{
			"720x400 text mode never goes below 480 wide", 720, 400, scenario(
				every(0, sec, one(10_000, true), [2]int{720, 400}),
				at(sec, one(10_000, true), [2]int{480, 266}, stepDown),
				every(1100*time.Millisecond, 5*sec, one(10_000, true), [2]int{480, 266}),
			),
		},
		{
			"the worst congested path decides; a congested path that carries the picture does not", 1920, 1080, scenario(
				every(0, 3*sec, []pathReading{{bps: 150_000}, {bps: 3_000_000, congested: true}}, p1080),
				every(3*sec, 4*sec, []pathReading{{bps: 150_000}, {bps: 400_000, congested: true}}, p1080),
				at(4*sec, []pathReading{{bps: 150_000}, {bps: 400_000, congested: true}}, p720, stepDown),
			),
		},
		{
			"recovery: back up after 4 s comfortably above", 1920, 1080, scenario(
				every(0, sec, one(400_000, true), p1080),
				at(sec, one(400_000, true), p720, stepDown),
				every(2*sec, 6*sec, one(5_000_000, false), p720),
				at(6*sec, one(5_000_000, false), p1080, stepUp),
			),
		},
		{
			// An application-limited estimate never clears the bar above: after a quiet
			// period the ladder tries the next step anyway, and stays there when no
			// congestion follows.
			"quiet at a reduced step: probe up, and stay", 1920, 1080, scenario(
				every(0, sec, one(400_000, true), p1080),
				at(sec, one(400_000, true), p720, stepDown),
				every(1100*time.Millisecond, 11*sec, one(150_000, false), p720),
				at(11*sec, one(150_000, false), p1080, stepProbe),
				every(11100*time.Millisecond, 60*sec, one(150_000, false), p1080),
			),
		},
		{
			"congestion after a probe: back down, and wait twice as long before the next", 1920, 1080, scenario(
				every(0, sec, one(400_000, true), p1080),
				at(sec, one(400_000, true), p720, stepDown),
				every(1100*time.Millisecond, 11*sec, one(150_000, false), p720),
				at(11*sec, one(150_000, false), p1080, stepProbe),
				every(11100*time.Millisecond, 12*sec, one(400_000, false), p1080),
				at(12*sec, one(400_000, true), p720, stepBack),
				every(12100*time.Millisecond, 32*sec, one(150_000, false), p720), // 20 s, not 10
				at(32*sec, one(150_000, false), p1080, stepProbe),
				at(33*sec, one(300_000, true), p720, stepBack),
				every(33100*time.Millisecond, 73*sec, one(150_000, false), p720), // 40 s
				at(73*sec, one(150_000, false), p1080, stepProbe),
			),
		},
		{
			"the wait doubles up to two minutes", 1920, 1080, scenario(
				every(0, sec, one(400_000, true), p1080),
				at(sec, one(400_000, true), p720, stepDown),
				at(11*sec, one(150_000, false), p1080, stepProbe),
				at(12*sec, one(300_000, true), p720, stepBack), // next wait 20 s
				at(32*sec, one(150_000, false), p1080, stepProbe),
				at(33*sec, one(300_000, true), p720, stepBack), // 40 s
				at(73*sec, one(150_000, false), p1080, stepProbe),
				at(74*sec, one(300_000, true), p720, stepBack), // 80 s
				at(154*sec, one(150_000, false), p1080, stepProbe),
				at(155*sec, one(300_000, true), p720, stepBack), // 160 s, capped at 120 s
				at(274*sec, one(150_000, false), p720, stepNone),
				at(275*sec, one(150_000, false), p1080, stepProbe),
			),
		},
		{
			"a probe that survives the watch resets the wait", 1920, 1080, scenario(
				every(0, sec, one(400_000, true), p1080),
				at(sec, one(400_000, true), p720, stepDown),
				at(11*sec, one(150_000, false), p1080, stepProbe),
				at(12*sec, one(300_000, true), p720, stepBack), // next wait 20 s
				at(32*sec, one(150_000, false), p1080, stepProbe),
				at(38*sec, one(150_000, false), p1080, stepNone), // survived: wait back to 10 s
				every(40*sec, 41*sec, one(400_000, true), p1080),
				at(41*sec, one(400_000, true), p720, stepDown),
				at(51*sec, one(150_000, false), p1080, stepProbe),
			),
		},
		{
			"congestion at a reduced step postpones the probe", 1920, 1080, scenario(
				every(0, sec, one(400_000, true), p1080),
				at(sec, one(400_000, true), p720, stepDown),
				at(8*sec, one(200_000, true), p720, stepNone), // 720p needs 276 kbit/s: congested and below
				at(17*sec, one(150_000, false), p720, stepNone),
				at(18*sec, one(150_000, false), p1080, stepProbe),
			),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l ladder
			for _, c := range tc.calls {
				w, h, step := l.size(tc.w, tc.h, c.paths, start.Add(c.at))
				assert.Equal(t, c.want, [2]int{w, h}, "size at %s with %+v", c.at, c.paths)
				assert.Equal(t, c.step, step, "step at %s with %+v", c.at, c.paths)
			}
		})
	}
}

// fakeGCC returns canned statistics in the shape of pion's SendSideBWE.GetStats.
type fakeGCC struct{ stats map[string]any }

func (f *fakeGCC) GetStats() map[string]any { return f.stats }

func gccStatsOf(usage string, loss, measurement float64) map[string]any {
	return map[string]any{
		"lossTargetBitrate": 150_000, "averageLoss": loss, "delayTargetBitrate": 150_000,
		"delayMeasurement": measurement, "delayEstimate": measurement / 2, "delayThreshold": 12.5,
		"usage": usage, "state": "increase",
	}
}

func TestGCCWatchReportsFreshCongestionOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stats []map[string]any
		want  []bool
	}{
		{"normal, no loss", []map[string]any{gccStatsOf("normal", 0, 1), gccStatsOf("normal", 0.01, 2)}, []bool{false, false}},
		{"overuse", []map[string]any{gccStatsOf("overuse", 0, 30), gccStatsOf("overuse", 0, 35)}, []bool{true, true}},
		// pion publishes nothing new while its controller holds: the overuse it last
		// published is no new evidence.
		{"a stale overuse counts once", []map[string]any{gccStatsOf("overuse", 0, 30), gccStatsOf("overuse", 0, 30), gccStatsOf("overuse", 0, 30)}, []bool{true, false, false}},
		{"loss GCC will not raise its estimate through", []map[string]any{gccStatsOf("normal", 0.05, 1), gccStatsOf("underuse", 0.02, 2)}, []bool{true, true}},
		{"no statistics yet", []map[string]any{{}}, []bool{false}},
		// pion's zero statistics, before its delay controller first publishes, read
		// "overuse" (the zero usage).
		{"zero statistics before the first update", []map[string]any{{
			"lossTargetBitrate": 0, "averageLoss": 0.0, "delayTargetBitrate": 0, "delayMeasurement": 0.0,
			"delayEstimate": 0.0, "delayThreshold": 0.0, "usage": "overuse", "state": "increase",
		}}, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeGCC{}
			g := &gccWatch{est: f}
			for i, s := range tc.stats {
				f.stats = s
				assert.Equal(t, tc.want[i], g.congested(), "reading %d", i)
			}
		})
	}
	var none *gccWatch
	none.poll()
	assert.False(t, none.congested(), "a session without an estimator shows no congestion")

	// An overuse polled when GCC changed its target is reported at the next frame even when
	// a fresh normal reading replaced it meanwhile, and only once.
	f := &fakeGCC{stats: gccStatsOf("overuse", 0, 30)}
	g := &gccWatch{est: f}
	g.poll()
	f.stats = gccStatsOf("normal", 0, 2)
	assert.True(t, g.congested(), "the overuse polled between frames")
	assert.False(t, g.congested(), "reported once")
}
