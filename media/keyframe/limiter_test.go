package keyframe_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/keyframe"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

const interval = 500 * time.Millisecond

func TestLimiterFirstRequestImmediate(t *testing.T) {
	clk := mediatest.NewClock(time.Unix(1000, 0))
	l := keyframe.NewLimiter(interval, clk)
	assert.False(t, l.Due(), "nothing requested")

	// The encoder's natural first keyframe just went out; the viewer connects right after.
	l.Sent()
	clk.Advance(10 * time.Millisecond)
	l.Request()
	require.True(t, l.Due(), "first request must not wait for the throttle")
	assert.False(t, l.Due(), "request consumed")
}

func TestLimiterThrottles(t *testing.T) {
	clk := mediatest.NewClock(time.Unix(1000, 0))
	l := keyframe.NewLimiter(interval, clk)

	l.Request()
	require.True(t, l.Due())
	l.Sent()

	steps := []struct {
		advance time.Duration
		request bool
		due     bool
	}{
		{100 * time.Millisecond, true, false}, // 100 ms after the keyframe: held
		{100 * time.Millisecond, true, false}, // folded into the pending one
		{299 * time.Millisecond, false, false},
		{1 * time.Millisecond, false, true}, // 500 ms: the pending request goes out
		{0, false, false},                   // and only once
		{600 * time.Millisecond, true, true},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.request {
			l.Request()
		}
		due := l.Due()
		assert.Equal(t, s.due, due, "step %d", i)
		if due {
			l.Sent()
		}
	}
}

func TestLimiterNaturalKeyframeRestartsInterval(t *testing.T) {
	clk := mediatest.NewClock(time.Unix(1000, 0))
	l := keyframe.NewLimiter(interval, clk)
	l.Request()
	require.True(t, l.Due())
	l.Sent()

	clk.Advance(400 * time.Millisecond)
	l.Sent() // periodic keyframe
	clk.Advance(200 * time.Millisecond)
	l.Request()
	assert.False(t, l.Due(), "200 ms after the periodic keyframe")
	assert.True(t, l.Pending())
	clk.Advance(300 * time.Millisecond)
	assert.True(t, l.Due())
}

func TestLimiterConcurrentRequests(t *testing.T) {
	clk := mediatest.NewClock(time.Unix(1000, 0))
	l := keyframe.NewLimiter(interval, clk)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Request()
			}
		})
	}
	granted := 0
	for range 1000 {
		if l.Due() {
			granted++
			l.Sent()
		}
	}
	wg.Wait()
	if l.Due() {
		granted++
	}
	assert.Equal(t, 1, granted, "the clock never moved: one keyframe in total")
}
