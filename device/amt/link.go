package amt

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLinkDropped is why a connection ended when AMT fell silent: MPS keeps its WebSocket
// open when the machine's CIRA link drops, so silence is the only sign.
var ErrLinkDropped = errors.New("the machine's management link dropped")

// watchedConn is the byte stream to AMT with a silence watchdog: when nothing arrived for
// silence (AMT answers the KVM data channel keep-alive every few seconds, so a live link is
// never that quiet), the watchdog closes the connection and reads fail with ErrLinkDropped.
type watchedConn struct {
	net.Conn
	silence time.Duration
	last    atomic.Int64 // UnixNano of the last byte read
	tripped atomic.Bool
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
			if now.Sub(time.Unix(0, c.last.Load())) > c.silence {
				c.tripped.Store(true)
				_ = c.Conn.Close()
				return
			}
		}
	}
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	if err != nil && c.tripped.Load() {
		err = fmt.Errorf("%w: nothing from AMT for %v", ErrLinkDropped, c.silence.Round(time.Second))
	}
	return n, err
}

// Close closes the connection and stops the watchdog.
func (c *watchedConn) Close() error {
	c.once.Do(func() { close(c.stop) })
	err := c.Conn.Close()
	<-c.done
	return err
}
