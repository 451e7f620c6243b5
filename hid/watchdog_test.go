package hid_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/hidtest"
)

const ms = time.Millisecond

func newWatchdog() (*hid.Watchdog, *hidtest.Clock, *atomic.Int32) {
	clock := hidtest.NewClock()
	var fired atomic.Int32
	w := hid.NewWatchdog(clock, 500*ms, func() { fired.Add(1) })
	return w, clock, &fired
}

func TestWatchdogIdleUntilKicked(t *testing.T) {
	_, clock, fired := newWatchdog()
	clock.Advance(time.Hour)
	assert.Zero(t, fired.Load())
}

func TestWatchdogFiresOnceAfterSilence(t *testing.T) {
	w, clock, fired := newWatchdog()
	w.Kick()
	clock.Advance(499 * ms)
	assert.Zero(t, fired.Load())
	clock.Advance(1 * ms)
	assert.EqualValues(t, 1, fired.Load())
	clock.Advance(time.Hour)
	assert.EqualValues(t, 1, fired.Load(), "quiet until the next kick")

	w.Kick()
	clock.Advance(500 * ms)
	assert.EqualValues(t, 2, fired.Load(), "re-armed by a kick")
}

func TestWatchdogKeepAlivesHoldItOff(t *testing.T) {
	w, clock, fired := newWatchdog()
	for range 25 { // 5 s of keep-alives every 200 ms
		w.Kick()
		clock.Advance(200 * ms)
	}
	assert.Zero(t, fired.Load())
	// The last kick was 200 ms ago.
	clock.Advance(299 * ms)
	assert.Zero(t, fired.Load())
	clock.Advance(1 * ms)
	assert.EqualValues(t, 1, fired.Load())
}

func TestWatchdogStop(t *testing.T) {
	w, clock, fired := newWatchdog()
	w.Kick()
	w.Stop()
	clock.Advance(time.Hour)
	w.Kick()
	clock.Advance(time.Hour)
	assert.Zero(t, fired.Load())
}

func TestWatchdogSystemClock(t *testing.T) {
	// Wiring check for the real clock; asserts on the outcome only, never on elapsed time.
	done := make(chan struct{})
	w := hid.NewWatchdog(hid.SystemClock(), ms, func() { close(done) })
	w.Kick()
	<-done
	w.Stop()
}
