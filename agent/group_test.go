package agent

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupCloseAndWait: work counted before the close has finished when closeAndWait
// returns, and nothing runs after it, while callers keep adding work concurrently (the
// agent's shutdown racing pion's callbacks; run with -race).
func TestGroupCloseAndWait(t *testing.T) {
	var g group
	var running, ranAfterClose atomic.Int32
	var closed atomic.Bool
	work := func() {
		if closed.Load() {
			ranAfterClose.Add(1)
		}
		running.Add(1)
		defer running.Add(-1)
	}
	var callers sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		callers.Go(func() {
			<-start
			for range 200 {
				g.Go(work)
				guarded(&g, func(int) { work() })(0)
			}
		})
	}
	close(start)
	g.closeAndWait()
	closed.Store(true)
	assert.Zero(t, running.Load(), "work still running after closeAndWait")
	callers.Wait()
	assert.Zero(t, ranAfterClose.Load(), "work started after closeAndWait")

	// A closed group refuses at once.
	ran := false
	g.Go(func() { ran = true })
	guarded(&g, func(int) { ran = true })(1)
	g.closeAndWait()
	require.False(t, ran)
}
