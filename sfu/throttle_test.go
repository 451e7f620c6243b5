package sfu

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

func TestKeyframeThrottle(t *testing.T) {
	const interval = 500 * time.Millisecond
	type step struct {
		at      time.Duration // since the start
		op      string        // request, keyframe, poll
		want    bool          // a request goes upstream
		wantGap time.Duration // poll only: the wait reported
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"first request at once", []step{{0, "request", true, 0}}},
		{"ten within the interval, keyframe arrives: one upstream", []step{
			{0, "request", true, 0},
			{10 * time.Millisecond, "request", false, 0}, {20 * time.Millisecond, "request", false, 0},
			{30 * time.Millisecond, "request", false, 0}, {40 * time.Millisecond, "request", false, 0},
			{50 * time.Millisecond, "request", false, 0}, {60 * time.Millisecond, "request", false, 0},
			{70 * time.Millisecond, "request", false, 0}, {80 * time.Millisecond, "request", false, 0},
			{90 * time.Millisecond, "request", false, 0},
			{150 * time.Millisecond, "keyframe", false, 0},
			{600 * time.Millisecond, "poll", false, 0},
			{2 * time.Second, "poll", false, 0},
		}},
		{"no keyframe: the pending request is retried after the interval", []step{
			{0, "request", true, 0},
			{100 * time.Millisecond, "request", false, 0},
			{100 * time.Millisecond, "poll", false, 400 * time.Millisecond},
			{499 * time.Millisecond, "poll", false, time.Millisecond},
			{500 * time.Millisecond, "poll", true, 0},
			{501 * time.Millisecond, "poll", false, 0},
		}},
		{"a request after the interval goes at once", []step{
			{0, "request", true, 0},
			{700 * time.Millisecond, "request", true, 0},
			{800 * time.Millisecond, "request", false, 0},
		}},
		{"a request after a keyframe still waits for the interval", []step{
			{0, "request", true, 0},
			{100 * time.Millisecond, "keyframe", false, 0},
			{200 * time.Millisecond, "request", false, 0},
			{500 * time.Millisecond, "poll", true, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := keyframeThrottle{interval: interval}
			start := time.Unix(1000, 0)
			sent := 0
			for i, s := range tc.steps {
				now := start.Add(s.at)
				var got bool
				switch s.op {
				case "request":
					got = k.request(now)
				case "keyframe":
					k.satisfied()
				case "poll":
					var wait time.Duration
					got, wait = k.poll(now)
					assert.Equal(t, s.wantGap, wait, "step %d wait", i)
				}
				assert.Equal(t, s.want, got, "step %d (%s at %v)", i, s.op, s.at)
				if got {
					sent++
				}
			}
			assert.LessOrEqual(t, sent, 1+int(tc.steps[len(tc.steps)-1].at/interval), "never more than one per interval")
		})
	}
}

// TestKeyframeRequesterFiresPending: the goroutine sends the first request at once and a
// pending one when the throttle's interval has passed on the clock, with no further request.
func TestKeyframeRequesterFiresPending(t *testing.T) {
	clock := mediatest.NewClock(time.Unix(0, 0))
	var sent atomic.Int32
	k := newKeyframeRequester(clock, 500*time.Millisecond, func() { sent.Add(1) })
	defer k.close()

	k.request()
	require.Eventually(t, func() bool { return sent.Load() == 1 }, 5*time.Second, time.Millisecond)
	k.request()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, clock.WaitTimers(ctx, 1), "the pending request waits on the clock")
	assert.Equal(t, int32(1), sent.Load())
	clock.Advance(500 * time.Millisecond)
	require.Eventually(t, func() bool { return sent.Load() == 2 }, 5*time.Second, time.Millisecond)
	asked, through := k.counts()
	assert.Equal(t, uint64(2), asked)
	assert.Equal(t, uint64(2), through)
}
