package cira

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

type chanState int

const (
	chanOpening chanState = iota // CHANNEL_OPEN sent, no answer yet
	chanOpen
	chanRefused
)

// Channel is one APF channel, a net.Conn. Reads return what the peer sent, then io.EOF after
// the peer's CHANNEL_CLOSE; writes block while the peer's window is used up. Deadlines behave
// as on a TCP connection (os.ErrDeadlineExceeded). Close sends CHANNEL_CLOSE.
type Channel struct {
	l            *link
	local        uint32
	remote       uint32 // set before the channel is handed out, never changed after
	laddr, raddr Addr

	wmu sync.Mutex // serialises Writes so their chunks do not interleave

	mu    sync.Mutex
	state chanState
	// Receive side: what the peer sent and the reader has not taken. The peer may send only
	// allowance more bytes; the reader's consumption is returned with WINDOW_ADJUST.
	rbuf      []byte
	roff      int
	window    uint32
	allowance uint32
	consumed  uint32
	// Send side: the window the peer granted and not yet used.
	credit   uint64
	maxChunk int

	peerClosed  bool
	localClosed bool
	closeSent   bool
	abandoned   bool // the opener gave up before the answer came
	linkErr     error
	openErr     error
	opened      chan struct{} // closed when the open is answered
	rdl, wdl    time.Time
	rsig, wsig  chan struct{} // closed and replaced to wake waiting readers / writers
}

var _ net.Conn = (*Channel)(nil)

func newChannel(l *link, window uint32, state chanState) *Channel {
	return &Channel{
		l:         l,
		state:     state,
		window:    window,
		allowance: window,
		opened:    make(chan struct{}),
		rsig:      make(chan struct{}),
		wsig:      make(chan struct{}),
	}
}

// setPeer records what the peer told us when the channel opened.
func (c *Channel) setPeer(remote, window, maxPacket uint32) {
	c.remote = remote
	c.credit = uint64(window)
	c.maxChunk = maxChunk
	if maxPacket > 0 && maxPacket < maxChunk {
		c.maxChunk = int(maxPacket)
	}
}

func (c *Channel) wakeReadersLocked() {
	close(c.rsig)
	c.rsig = make(chan struct{})
}

func (c *Channel) wakeWritersLocked() {
	close(c.wsig)
	c.wsig = make(chan struct{})
}

// confirmed handles CHANNEL_OPEN_CONFIRMATION for a channel we opened.
func (c *Channel) confirmed(m *apf.ChannelOpenConfirmation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != chanOpening {
		return fmt.Errorf("%w: second confirmation for channel %d", ErrProtocol, c.local)
	}
	c.setPeer(m.Sender, m.Window, m.MaxPacket)
	c.state = chanOpen
	if c.abandoned {
		// The opener is gone; close the channel the device just opened (MPS does the same).
		c.localClosed, c.closeSent = true, true
		c.l.send(&apf.ChannelClose{Recipient: c.remote})
		return nil
	}
	close(c.opened)
	return nil
}

// refused handles CHANNEL_OPEN_FAILURE for a channel we opened.
func (c *Channel) refused(reason uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != chanOpening {
		return fmt.Errorf("%w: open failure for open channel %d", ErrProtocol, c.local)
	}
	c.state = chanRefused
	c.openErr = fmt.Errorf("%w (reason %d)", ErrRefused, reason)
	c.l.removeChannel(c)
	if !c.abandoned {
		close(c.opened)
	}
	return nil
}

// adjust handles WINDOW_ADJUST.
func (c *Channel) adjust(n uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != chanOpen {
		return fmt.Errorf("%w: window adjust for unopened channel %d", ErrProtocol, c.local)
	}
	c.credit = min(c.credit+uint64(n), math.MaxUint32)
	c.wakeWritersLocked()
	return nil
}

// receive handles CHANNEL_DATA. It never blocks: the window bounds what is buffered, and data
// beyond it is a protocol error.
func (c *Channel) receive(data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != chanOpen {
		return fmt.Errorf("%w: data for unopened channel %d", ErrProtocol, c.local)
	}
	if uint64(len(data)) > uint64(c.allowance) {
		return fmt.Errorf("%w: %d bytes on channel %d exceed its window (%d left)", ErrProtocol, len(data), c.local, c.allowance)
	}
	c.allowance -= uint32(len(data))
	if c.localClosed || c.peerClosed {
		return nil // late data for a channel we closed: the reader is gone
	}
	if c.roff > 0 && len(c.rbuf)+len(data) > cap(c.rbuf) {
		n := copy(c.rbuf, c.rbuf[c.roff:])
		c.rbuf, c.roff = c.rbuf[:n], 0
	}
	c.rbuf = append(c.rbuf, data...)
	c.wakeReadersLocked()
	return nil
}

// peerClose handles CHANNEL_CLOSE: the reader gets io.EOF after what is buffered; we answer
// with our own CHANNEL_CLOSE unless we sent one already, and the channel number is free.
func (c *Channel) peerClose() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l.removeChannel(c)
	if c.state == chanOpening {
		c.state = chanRefused
		c.openErr = fmt.Errorf("%w (closed before confirmation)", ErrRefused)
		if !c.abandoned {
			close(c.opened)
		}
		return
	}
	c.peerClosed = true
	if !c.closeSent {
		c.closeSent = true
		c.l.send(&apf.ChannelClose{Recipient: c.remote})
	}
	c.wakeReadersLocked()
	c.wakeWritersLocked()
}

// linkDown tells the channel its link is gone.
func (c *Channel) linkDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.linkErr == nil {
		c.linkErr = err
	}
	c.wakeReadersLocked()
	c.wakeWritersLocked()
}

// waitOpen waits for the answer to our CHANNEL_OPEN.
func (c *Channel) waitOpen(ctx context.Context) error {
	select {
	case <-c.opened:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.openErr
	case <-c.l.done:
		return c.l.downErr()
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		select {
		case <-c.opened: // answered meanwhile: undo a successful open
			if c.openErr == nil && !c.closeSent {
				c.localClosed, c.closeSent = true, true
				c.l.send(&apf.ChannelClose{Recipient: c.remote})
			}
		default:
			c.abandoned = true
		}
		return fmt.Errorf("cira: opening channel: %w", ctx.Err())
	}
}

// wait blocks until sig is closed or the deadline passes; it reports whether it timed out.
func wait(sig <-chan struct{}, deadline time.Time) bool {
	if deadline.IsZero() {
		<-sig
		return false
	}
	d := time.Until(deadline)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sig:
		return false
	case <-t.C:
		return true
	}
}

func expired(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}

// Read implements net.Conn.
func (c *Channel) Read(p []byte) (int, error) {
	c.mu.Lock()
	for {
		if c.localClosed {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		if c.roff < len(c.rbuf) {
			if len(p) == 0 {
				c.mu.Unlock()
				return 0, nil
			}
			n := copy(p, c.rbuf[c.roff:])
			c.roff += n
			if c.roff == len(c.rbuf) {
				c.rbuf, c.roff = c.rbuf[:0], 0
			}
			c.consumed += uint32(n)
			var grant uint32
			if c.consumed > c.window/2 && !c.peerClosed && c.linkErr == nil {
				grant, c.consumed = c.consumed, 0
				c.allowance += grant
			}
			c.mu.Unlock()
			if grant > 0 {
				c.l.send(&apf.WindowAdjust{Recipient: c.remote, Bytes: grant})
			}
			return n, nil
		}
		if c.peerClosed {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if c.linkErr != nil {
			c.mu.Unlock()
			return 0, c.linkErr
		}
		if expired(c.rdl) {
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		sig, dl := c.rsig, c.rdl
		c.mu.Unlock()
		wait(sig, dl)
		c.mu.Lock()
	}
}

// Write implements net.Conn. It sends within the peer's window, in CHANNEL_DATA messages of at
// most the peer's max packet size and this side's chunk size.
func (c *Channel) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		n, err := c.reserve(len(p))
		if err != nil {
			return written, err
		}
		if err := c.l.sendWait(&apf.ChannelData{Recipient: c.remote, Data: p[:n]}); err != nil {
			return written, c.l.downErr()
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// reserve waits for send credit and takes up to want bytes of it.
func (c *Channel) reserve(want int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.localClosed:
			return 0, net.ErrClosed
		case c.peerClosed:
			return 0, ErrPeerClosed
		case c.linkErr != nil:
			return 0, c.linkErr
		case expired(c.wdl):
			return 0, os.ErrDeadlineExceeded
		case c.credit > 0:
			n := min(uint64(want), c.credit, uint64(c.maxChunk))
			c.credit -= n
			return int(n), nil
		}
		sig, dl := c.wsig, c.wdl
		c.mu.Unlock()
		wait(sig, dl)
		c.mu.Lock()
	}
}

// Close implements net.Conn: it sends CHANNEL_CLOSE (once) and fails pending reads and writes.
func (c *Channel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.localClosed {
		return net.ErrClosed
	}
	c.localClosed = true
	c.rbuf, c.roff = nil, 0
	if !c.closeSent && c.linkErr == nil {
		c.closeSent = true
		c.l.send(&apf.ChannelClose{Recipient: c.remote})
	}
	c.wakeReadersLocked()
	c.wakeWritersLocked()
	return nil
}

// LocalAddr implements net.Conn.
func (c *Channel) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements net.Conn.
func (c *Channel) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline implements net.Conn.
func (c *Channel) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl, c.wdl = t, t
	c.wakeReadersLocked()
	c.wakeWritersLocked()
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Channel) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl = t
	c.wakeReadersLocked()
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *Channel) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl = t
	c.wakeWritersLocked()
	return nil
}
