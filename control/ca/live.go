package ca

import (
	"io"
	"sync"
)

// Live tracks the open connections of each device on this relay node, so that revoking a
// device cuts them at once instead of when they next reconnect. Whoever accepts an agent
// connection calls Track; whoever revokes calls CloseDevice (on every node: across nodes the
// revocation travels on the bus).
type Live struct {
	mu    sync.Mutex
	conns map[string]map[*liveConn]struct{}
}

type liveConn struct{ c io.Closer }

// NewLive returns an empty tracker.
func NewLive() *Live {
	return &Live{conns: make(map[string]map[*liveConn]struct{})}
}

// Track registers c as a connection of deviceID until the returned function is called (call
// it when the connection ends; calling it twice is harmless).
func (l *Live) Track(deviceID string, c io.Closer) (untrack func()) {
	e := &liveConn{c: c}
	l.mu.Lock()
	defer l.mu.Unlock()
	set := l.conns[deviceID]
	if set == nil {
		set = make(map[*liveConn]struct{})
		l.conns[deviceID] = set
	}
	set[e] = struct{}{}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if set := l.conns[deviceID]; set != nil {
			delete(set, e)
			if len(set) == 0 {
				delete(l.conns, deviceID)
			}
		}
	}
}

// CloseDevice closes and forgets every tracked connection of deviceID and returns how many
// there were. Connections are closed outside the lock: Close may block on a slow peer.
func (l *Live) CloseDevice(deviceID string) int {
	l.mu.Lock()
	set := l.conns[deviceID]
	delete(l.conns, deviceID)
	l.mu.Unlock()
	for e := range set {
		_ = e.c.Close()
	}
	return len(set)
}

// Count returns how many connections deviceID has open.
func (l *Live) Count(deviceID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns[deviceID])
}
