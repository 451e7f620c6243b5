package netguard

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is an accepted connection under a Guard's accounts. Its owner uses it as the net.Conn
// it wraps; Close gives its place back.
type Conn struct {
	net.Conn
	l      *listener
	addr   netip.Addr // the client's address
	key    netip.Addr // what the per-address cap counts by
	addrOK bool       // the remote address is an IP (always, on TCP)

	spokeOnce atomic.Bool
	// idle closes the connection if it sends nothing. Atomic: its own callback (Close)
	// reads it, on the timer's goroutine, while Accept may still be storing it.
	idle      atomic.Pointer[time.Timer]
	closeOnce sync.Once

	// Guarded by the Guard's mutex.
	tier     *list.List // silent or unproven; nil once trusted or released
	elem     *list.Element
	released bool
}

func newConn(l *listener, c net.Conn) *Conn {
	gc := &Conn{Conn: c, l: l}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		gc.addr, gc.key, gc.addrOK = ap.Addr().Unmap(), addressKey(ap.Addr()), true
	}
	return gc
}

// Read notes the first byte: a connection that spoke is no longer the first to be evicted.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spokeOnce.Load() && c.spokeOnce.CompareAndSwap(false, true) {
		c.stopIdle()
		c.l.g.spoke(c)
	}
	return n, err
}

// Close closes the connection and gives its place back, once.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.stopIdle()
		c.l.g.release(c)
		err = c.Conn.Close()
	})
	return err
}

// NetConn is the connection underneath, as crypto/tls names it.
func (c *Conn) NetConn() net.Conn { return c.Conn }

func (c *Conn) stopIdle() {
	if t := c.idle.Load(); t != nil {
		t.Stop()
	}
}

// startIdleTimer closes c if it has not spoken within d.
func (c *Conn) startIdleTimer(d time.Duration) {
	c.idle.Store(time.AfterFunc(d, func() {
		if c.spokeOnce.Load() {
			return
		}
		c.l.g.metrics.refused(c.l.name, refusedIdle)
		_ = c.Close()
	}))
}

// Trust marks the guarded connection beneath c (through crypto/tls and any wrapper with a
// NetConn method) as proven — an authenticated agent or console WebSocket, a TURN connection
// holding an allocation — so that no flood evicts it. It reports whether c was guarded.
func Trust(c net.Conn) bool {
	for c != nil {
		switch v := c.(type) {
		case *Conn:
			v.spokeOnce.Store(true)
			v.stopIdle()
			v.l.g.trust(v)
			return true
		case *tls.Conn:
			c = v.NetConn()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return false
		}
	}
	return false
}
