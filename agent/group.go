package agent

import "sync"

// group tracks work its owner must wait for before shutting down, and refuses work that
// arrives once the owner has begun to: a sync.WaitGroup alone must not gain work while Wait
// may be running, and pion's callbacks can arrive at any time, even during a shutdown.
type group struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f on a new goroutine the group waits for; once the group is closed, f is dropped.
func (g *group) Go(f func()) {
	if !g.enter() {
		return
	}
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// enter counts one unit of work unless the group is closed; leave ends it.
func (g *group) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *group) leave() { g.wg.Done() }

// closeAndWait refuses further work and waits for the work already counted.
func (g *group) closeAndWait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// guarded wraps a callback that pion runs on a goroutine of its own that nobody waits for
// (a peer connection's state changes): each call counts in g, and a call arriving after g
// closed is dropped, so nothing of a session runs after it ended.
func guarded[T any](g *group, f func(T)) func(T) {
	return func(v T) {
		if !g.enter() {
			return
		}
		defer g.leave()
		f(v)
	}
}
