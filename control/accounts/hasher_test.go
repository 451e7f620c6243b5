package accounts

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHasherQueueSheds: real work queues up to maxQueue and is then refused with ErrBusy;
// dummy work never queues and never takes the last free slot; a released slot goes to the
// queue first.
func TestHasherQueueSheds(t *testing.T) {
	ctx := context.Background()
	h, err := newHasher(cheapArgon2, 2, 1)
	require.NoError(t, err)
	dummy, err := h.hash(ctx, "correct horse battery")
	require.NoError(t, err)

	require.True(t, h.tryAcquireLow(), "idle: dummy work runs")
	assert.False(t, h.tryAcquireLow(), "the last slot is kept for real work")
	require.NoError(t, h.acquire(ctx), "real work takes it")

	queued := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		ok, _, err := h.verify(ctx, dummy, "correct horse battery")
		if err == nil && !ok {
			err = assert.AnError
		}
		queued <- err
	})
	require.Eventually(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.waiting.Len() == 1 }, 5e9, 1e6)
	_, err = h.hash(ctx, "another password")
	assert.ErrorIs(t, err, ErrBusy, "the queue is full: shed")

	runs, shed := h.runs.Load(), h.shed.Load()
	h.burn(ctx, dummy, "made-up account")
	assert.Equal(t, shed+1, h.shed.Load(), "dummy work is shed under load")
	assert.Equal(t, runs, h.runs.Load())

	h.release(true) // the dummy slot goes to the queued verification
	require.NoError(t, <-queued)
	wg.Wait()
	require.True(t, h.tryAcquireLow(), "the queue is empty and one slot is free: dummy work runs again")
	h.release(true)
	h.release(false)
	h.mu.Lock()
	assert.Equal(t, 0, h.inUse)
	h.mu.Unlock()
}

// TestHasherWaiterGivesUp: a queued verification whose context ends leaves the queue, and a
// slot handed to it meanwhile is not lost.
func TestHasherWaiterGivesUp(t *testing.T) {
	h, err := newHasher(cheapArgon2, 1, 4)
	require.NoError(t, err)
	require.NoError(t, h.acquire(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.acquire(ctx) }()
	require.Eventually(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.waiting.Len() == 1 }, 5e9, 1e6)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	h.release(false)
	h.mu.Lock()
	assert.Equal(t, 0, h.inUse)
	assert.Equal(t, 0, h.waiting.Len())
	h.mu.Unlock()
}
