package mediatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

func TestClock(t *testing.T) {
	start := time.Unix(100, 0)
	c := mediatest.NewClock(start)
	assert.Equal(t, start, c.Now())

	t1 := c.NewTimer(time.Second)
	t2 := c.NewTimer(2 * time.Second)
	t3 := c.NewTimer(3 * time.Second)
	assert.Equal(t, 3, c.Timers())
	d, ok := c.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, start.Add(time.Second), d)

	c.Advance(1500 * time.Millisecond)
	select {
	case got := <-t1.C():
		assert.Equal(t, start.Add(1500*time.Millisecond), got)
	default:
		t.Fatal("due timer did not fire")
	}
	select {
	case <-t2.C():
		t.Fatal("timer fired early")
	default:
	}
	assert.False(t, t1.Stop(), "already fired")
	assert.True(t, t3.Stop())
	c.Advance(10 * time.Second)
	<-t2.C()
	select {
	case <-t3.C():
		t.Fatal("stopped timer fired")
	default:
	}
	assert.Zero(t, c.Timers())

	<-c.NewTimer(0).C() // due at once
}

func TestClockWait(t *testing.T) {
	c := mediatest.NewClock(time.Unix(0, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.WaitDeadline(ctx, time.Unix(5, 0)) }()
	c.NewTimer(3 * time.Second)
	c.NewTimer(5 * time.Second)
	require.NoError(t, <-done)
	require.NoError(t, c.WaitTimers(ctx, 2))

	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	assert.ErrorIs(t, c.WaitTimers(short, 3), context.Canceled)
}
