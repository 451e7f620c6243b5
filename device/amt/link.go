package amt

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLinkDropped is why a connection ended when AMT fell silent: MPS keeps its WebSocket
// open when the machine's CIRA link drops, so silence is the only sign.
var ErrLinkDropped = errors.New("the machine's management link dropped")

// ErrSessionEnded is why a connection ended when AMT or MPS closed it: AMT's KVM session
// timeout, the firmware ending the session, or MPS restarting.
var ErrSessionEnded = errors.New("AMT or MPS ended the KVM session (AMT's session timeout, the firmware closing it, or MPS restarting)")

// watchedConn is the byte stream to AMT with a silence watchdog. A static screen is quiet
// too, so halfway through the silence the watchdog asks for something AMT must answer at once
// (probe: a one-pixel full update); when still nothing arrived by silence, it closes the
// connection and reads fail with ErrLinkDropped.
type watchedConn struct {
	net.Conn
	silence time.Duration
	probe   atomic.Pointer[func()]
	probed  atomic.Bool
	last    atomic.Int64 // UnixNano of the last byte read
	tripped atomic.Bool
	// running: the RFB session is up; an end from then on is the session's, not a refusal.
	running atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func watchSilence(conn net.Conn, silence time.Duration) *watchedConn {
	c := &watchedConn{Conn: conn, silence: silence, stop: make(chan struct{}), done: make(chan struct{})}
	c.last.Store(time.Now().UnixNano())
	go c.watch()
	return c
}

func (c *watchedConn) watch() {
	defer close(c.done)
	t := time.NewTicker(max(c.silence/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			quiet := now.Sub(time.Unix(0, c.last.Load()))
			if quiet > c.silence {
				c.tripped.Store(true)
				_ = c.Conn.Close()
				return
			}
			if quiet > c.silence/2 && !c.probed.Load() {
				if p := c.probe.Load(); p != nil {
					c.probed.Store(true)
					(*p)()
				}
			}
		}
	}
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
		c.probed.Store(false)
	}
	switch {
	case err == nil:
	case c.tripped.Load():
		err = fmt.Errorf("%w: nothing from AMT for %v", ErrLinkDropped, c.silence.Round(time.Second))
	case c.running.Load() && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		// Keep io.EOF matchable: readers above tell an end from a failure by it.
		err = fmt.Errorf("%w: %w", ErrSessionEnded, err)
	}
	return n, err
}

// sessionStarted marks the RFB session up: an end after it is the KVM session's.
func (c *watchedConn) sessionStarted() { c.running.Store(true) }

// setProbe sets what the watchdog sends when the link has been quiet for half the silence.
func (c *watchedConn) setProbe(probe func()) { c.probe.Store(&probe) }

// Close closes the connection and stops the watchdog.
func (c *watchedConn) Close() error {
	c.once.Do(func() { close(c.stop) })
	err := c.Conn.Close()
	<-c.done
	return err
}
