package cira

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

const (
	// maxQueued bounds the control messages (replies, adjusts) waiting for the writer: a peer
	// that keeps asking and never reads is dropped instead of growing our memory.
	maxQueued = 4096
	// maxChannels bounds the channels one link may hold.
	maxChannels = 256
	// maxChunk is the largest CHANNEL_DATA this side sends (one TLS record's worth).
	maxChunk = 16 << 10
	// flushAt is how much the writer batches before writing to the connection.
	flushAt = 64 << 10
	// maxPacketAny is the "no limit" max packet size MPS and AMT put in channel opens.
	maxPacketAny = math.MaxUint32
)

// outMsg is a message waiting for the writer. sent is signalled once it is written (channel
// data waits for it, so its bytes stay the caller's); closeAfter ends the link after it.
type outMsg struct {
	msg        apf.Message
	sent       chan error
	closeAfter bool
}

// link is one CIRA connection, shared by the client and server roles: the writer queue, the
// channel table, and the failure that ends it. Its owner runs writeLoop and readLoop.
type link struct {
	conn         net.Conn
	br           *bufio.Reader
	log          *slog.Logger
	idle         time.Duration // read deadline per message; 0 means none
	writeTimeout time.Duration

	qmu      sync.Mutex
	queue    []outMsg
	queued   int  // control messages in queue
	overflow bool // more than maxQueued were queued: the writer ends the link
	wake     chan struct{}

	mu       sync.Mutex
	channels map[uint32]*Channel
	nextID   uint32
	err      error
	done     chan struct{}
}

func newLink(conn net.Conn, log *slog.Logger, idle time.Duration, firstID uint32) *link {
	wt := idle
	if wt <= 0 {
		wt = 90 * time.Second
	}
	return &link{
		conn:         conn,
		br:           bufio.NewReaderSize(conn, 32<<10),
		log:          log,
		idle:         idle,
		writeTimeout: wt,
		wake:         make(chan struct{}, 1),
		channels:     make(map[uint32]*Channel),
		nextID:       firstID,
		done:         make(chan struct{}),
	}
}

// send queues a control message without waiting: the read loop calls it.
func (l *link) send(m apf.Message) {
	l.enqueue(outMsg{msg: m})
}

// sendThenClose queues m and ends the link once it is written.
func (l *link) sendThenClose(m apf.Message) {
	l.enqueue(outMsg{msg: m, closeAfter: true})
}

// enqueue never blocks and never fails the link itself (callers hold channel locks); an
// overflowing queue is left for the writer to act on.
func (l *link) enqueue(o outMsg) {
	select {
	case <-l.done:
		return
	default:
	}
	l.qmu.Lock()
	if o.sent == nil {
		l.queued++
		if l.queued > maxQueued {
			l.overflow = true
		}
	}
	if !l.overflow {
		l.queue = append(l.queue, o)
	}
	l.qmu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// sendWait queues m and waits until it is written or the link is down. Channel writers use it
// so the data is theirs until written and CHANNEL_CLOSE can never overtake it.
func (l *link) sendWait(m apf.Message) error {
	sent := make(chan error, 1)
	l.enqueue(outMsg{msg: m, sent: sent})
	select {
	case err := <-sent:
		return err
	case <-l.done:
		return l.downErr()
	}
}

// writeLoop writes queued messages in batches until the link is down.
func (l *link) writeLoop() {
	var buf []byte
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		l.qmu.Lock()
		batch, overflow := l.queue, l.overflow
		l.queue, l.queued = nil, 0
		l.qmu.Unlock()
		if overflow {
			l.fail(fmt.Errorf("%w: peer does not read what it asks for", ErrProtocol))
			return
		}

		var sent []chan error
		closeAfter := false
		var err error
		buf = buf[:0]
		for _, o := range batch {
			buf = o.msg.Marshal(buf)
			if o.sent != nil {
				sent = append(sent, o.sent)
			}
			closeAfter = closeAfter || o.closeAfter
			if len(buf) >= flushAt && err == nil {
				err = l.write(buf)
				buf = buf[:0]
			}
		}
		if len(buf) > 0 && err == nil {
			err = l.write(buf)
		}
		for _, s := range sent {
			s <- err
		}
		if cap(buf) > 4*flushAt {
			buf = nil
		}
		if err != nil {
			l.fail(fmt.Errorf("writing: %w", err))
			return
		}
		if closeAfter {
			l.fail(errLocalClose)
			return
		}
	}
}

func (l *link) write(b []byte) error {
	_ = l.conn.SetWriteDeadline(time.Now().Add(l.writeTimeout))
	_, err := l.conn.Write(b)
	return err
}

// readLoop reads messages and hands each to handle until either fails. handle must not block.
func (l *link) readLoop(handle func(apf.Message) error) error {
	for {
		if l.idle > 0 {
			_ = l.conn.SetReadDeadline(time.Now().Add(l.idle))
		}
		m, err := apf.ReadMessage(l.br, apf.MaxChannelData)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w: idle for %s", ErrLinkDown, l.idle)
			}
			if errors.Is(err, apf.ErrUnknownMessage) || errors.Is(err, apf.ErrTooLong) || errors.Is(err, apf.ErrMalformed) {
				return fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			return fmt.Errorf("%w: %w", ErrLinkDown, err)
		}
		if err := handle(m); err != nil {
			return err
		}
	}
}

// fail ends the link with cause err (the first cause wins): it closes the connection and tells
// every channel.
func (l *link) fail(err error) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.err = err
	chans := make([]*Channel, 0, len(l.channels))
	for _, c := range l.channels {
		chans = append(chans, c)
	}
	l.mu.Unlock()
	close(l.done)
	_ = l.conn.Close()
	down := l.downErr()
	for _, c := range chans {
		c.linkDown(down)
	}
}

// drop ends the link abruptly: the TCP connection is reset, no TLS close_notify, no APF
// goodbye — what the peer sees when a CIRA link is cut.
func (l *link) drop() {
	nc := l.conn
	if u, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = u.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
	l.fail(errDropped)
}

// cause is why the link ended, or nil while it is up.
func (l *link) cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// downErr is the error channel users see once the link is down.
func (l *link) downErr() error {
	err := l.cause()
	if err == nil || errors.Is(err, ErrLinkDown) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrLinkDown, err)
}

// addChannel allocates a channel number and registers c under it.
func (l *link) addChannel(c *Channel) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.downErrLocked()
	}
	if len(l.channels) >= maxChannels {
		return ErrTooManyChannels
	}
	for {
		id := l.nextID
		l.nextID++
		if _, used := l.channels[id]; !used {
			c.local = id
			l.channels[id] = c
			return nil
		}
	}
}

func (l *link) downErrLocked() error {
	if errors.Is(l.err, ErrLinkDown) {
		return l.err
	}
	return fmt.Errorf("%w: %w", ErrLinkDown, l.err)
}

func (l *link) channel(id uint32) *Channel {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.channels[id]
}

func (l *link) removeChannel(c *Channel) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.channels[c.local] == c {
		delete(l.channels, c.local)
	}
}

// handleChannel handles the channel messages both roles share; it reports whether m was one.
func (l *link) handleChannel(m apf.Message) (bool, error) {
	switch m := m.(type) {
	case *apf.ChannelOpenConfirmation:
		if c := l.channel(m.Recipient); c != nil {
			return true, c.confirmed(m)
		}
	case *apf.ChannelOpenFailure:
		if c := l.channel(m.Recipient); c != nil {
			return true, c.refused(m.Reason)
		}
	case *apf.WindowAdjust:
		if c := l.channel(m.Recipient); c != nil {
			return true, c.adjust(m.Bytes)
		}
	case *apf.ChannelData:
		if c := l.channel(m.Recipient); c != nil {
			return true, c.receive(m.Data)
		}
	case *apf.ChannelClose:
		if c := l.channel(m.Recipient); c != nil {
			c.peerClose()
		}
	default:
		return false, nil
	}
	// Like MPS, messages for channels we do not have (closed ones, usually) are ignored.
	l.log.Debug("message for an unknown channel ignored", "type", m.Type())
	return true, nil
}
