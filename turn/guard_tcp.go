package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"

	"github.com/kvmrelay/kvmrelay/internal/netguard"
)

// TCP carries STUN and ChannelData frames back to back (RFC 8656 §12.5). pion frames the
// stream itself (its STUNConn) on top of the net.Conn the listener returns, so the guard has
// to frame it too: guardConn.Read hands pion the stream minus the frames the guard refused,
// one frame per Read at most, so pion never holds bytes beyond the frame it is handling and
// cuts exactly the frames the guard inspected (see pionMisreads for the two cases where it
// would not, which the guard drops).
//
// After a successful ConnectionBind (RFC 6062) the connection stops carrying frames and
// becomes a raw pipe to the peer; guardConn notices pion's success response going out and
// from then on passes bytes unframed.

// Idle limits: a connection that has not been granted anything yet must speak within
// handshakeIdle; one with an allocation may stay quiet up to the longest allocation
// lifetime pion grants (1 h) plus slack.
const (
	handshakeIdle  = 30 * time.Second
	allocationIdle = time.Hour + 5*time.Minute
	maxFrame       = 20 + 0xffff // STUN header + longest body; ChannelData is shorter
	readChunk      = 4 << 10
)

var (
	errBadFrame    = errors.New("turn: TCP stream is not STUN or ChannelData")
	errTooManyConn = errors.New("turn: too many TCP connections")
)

// guardListener accepts TCP connections for pion, guarded and tracked so Close can end them
// (pion's Server.Close closes the listener but not the connections it accepted).
type guardListener struct {
	net.Listener
	s   *Server
	max int

	mu    sync.Mutex
	conns map[*guardConn]struct{}
}

func newGuardListener(l net.Listener, s *Server, maxConns int) *guardListener {
	return &guardListener{Listener: l, s: s, max: maxConns, conns: make(map[*guardConn]struct{})}
}

func (l *guardListener) Accept() (net.Conn, error) {
	if !l.s.ops.enter() {
		return nil, net.ErrClosed
	}
	defer l.s.ops.exit()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g := &guardConn{Conn: c, l: l, s: l.s}
		if !l.add(g) {
			l.s.metrics.refuse(refusedQuota)
			l.s.log.Warn("turn: TCP connection refused", "client", c.RemoteAddr().String(), "err", errTooManyConn)
			_ = c.Close()
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(handshakeIdle))
		return g, nil
	}
}

func (l *guardListener) add(g *guardConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil || len(l.conns) >= l.max {
		return false
	}
	l.conns[g] = struct{}{}
	return true
}

// count is the number of open accepted connections.
func (l *guardListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *guardListener) remove(g *guardConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, g)
}

// closeConns ends every accepted connection and refuses new ones.
func (l *guardListener) closeConns() {
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for g := range conns {
		_ = g.Conn.Close()
	}
}

// guardConn is one accepted TCP connection as pion sees it.
type guardConn struct {
	net.Conn
	l *guardListener
	s *Server

	// Read side: only pion's goroutine for this connection reads (its read loop, then the
	// ConnectionBind copy), one Read at a time.
	in    []byte // received, not yet framed
	out   []byte // the current frame, not yet handed to pion
	guard inspector

	raw     atomic.Bool // ConnectionBind succeeded: a pipe, not frames
	granted atomic.Bool // an Allocate or ConnectionBind succeeded on it

	closeOnce sync.Once
}

func (c *guardConn) Read(p []byte) (int, error) {
	if !c.s.ops.enter() {
		return 0, net.ErrClosed
	}
	defer c.s.ops.exit()
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if c.raw.Load() {
			if len(c.in) > 0 {
				n := copy(p, c.in)
				c.in = c.in[n:]
				return n, nil
			}
			return c.Conn.Read(p)
		}
		size, err := frameSize(c.in)
		if err != nil {
			return 0, err
		}
		if size == 0 || len(c.in) < size {
			if err := c.fill(); err != nil {
				return 0, err
			}
			continue
		}
		frame := c.in[:size]
		v := passFrame
		switch {
		case pionMisreads(frame):
			c.s.metrics.refuse(refusedProto)
			v = verdict{}
		case !c.s.cfg.hooks.noGuard:
			v = c.s.inspect(&c.guard, frame, c.RemoteAddr(), false)
		}
		if v.pass {
			c.out = append(c.out[:0], frame...)
		} else if v.reply != nil {
			if _, err := c.Conn.Write(v.reply); err != nil {
				return 0, fmt.Errorf("turn: send refusal: %w", err)
			}
		}
		c.in = c.in[size:]
	}
}

// fill reads more of the stream, compacting the buffer first.
func (c *guardConn) fill() error {
	if len(c.in) >= maxFrame {
		return errBadFrame
	}
	if cap(c.in)-len(c.in) < readChunk {
		grown := make([]byte, len(c.in), len(c.in)+readChunk)
		copy(grown, c.in)
		c.in = grown
	}
	n, err := c.Conn.Read(c.in[len(c.in):cap(c.in)])
	c.in = c.in[:len(c.in)+n]
	if n > 0 {
		idle := handshakeIdle
		if c.granted.Load() {
			idle = allocationIdle
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(idle))
		return nil
	}
	return err
}

// Write watches pion's responses for the two that change what the connection is.
func (c *guardConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil || c.raw.Load() || !stun.IsMessage(p) || len(p) < 4 {
		return n, err
	}
	switch stun.MessageType(decodeType(p)) {
	case stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse):
		c.granted.Store(true)
		netguard.Trust(c.Conn) // authenticated: no flood evicts it
	case stun.NewType(stun.MethodConnectionBind, stun.ClassSuccessResponse):
		// The peer data connection is now a pipe (RFC 6062 §5.4); pion copies until either
		// side closes, and idleness is the peer's business.
		c.granted.Store(true)
		netguard.Trust(c.Conn)
		c.raw.Store(true)
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (c *guardConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.l.remove(c)
		err = c.Conn.Close()
	})
	return err
}

func decodeType(p []byte) stun.MessageType {
	var t stun.MessageType
	t.ReadValue(binary.BigEndian.Uint16(p[0:2]))
	return t
}

// frameSize returns the size of the frame at the start of b, 0 if more bytes are needed, or
// an error if b cannot start a frame: ChannelData by its first two bits (01), padded to 4;
// STUN (00) with the magic cookie; anything else is refused (pion would take 10 and 11
// followed by the cookie for STUN; no client sends that). The decision depends on the
// frame's own bytes only, never on how the stream was segmented.
func frameSize(b []byte) (int, error) {
	switch {
	case len(b) == 0:
		return 0, nil
	case b[0]&0xc0 == 0x40: // channel numbers are 0x4000–0x7fff
		if len(b) < 4 {
			return 0, nil
		}
		return 4 + (int(binary.BigEndian.Uint16(b[2:4]))+3)&^3, nil
	case b[0]&0xc0 != 0:
		return 0, errBadFrame
	case len(b) < 20:
		return 0, nil
	case stun.IsMessage(b):
		return 20 + int(binary.BigEndian.Uint16(b[2:4])), nil
	}
	return 0, errBadFrame
}

// pionMisreads reports whether pion's STUNConn, handed exactly this frame, would cut it
// differently. pion looks at nothing shorter than 9 bytes (it reads on and would cut such a
// frame together with what follows), and takes any 20 bytes with the magic cookie at offset
// 4 for STUN, even a ChannelData frame. Were the guard to pass such a frame, bytes it took for
// a payload could reach pion as a STUN request that no one inspected; it drops them instead
// (ChannelData with at most 4 bytes of payload, or whose payload starts 0x2112a442: nothing
// WebRTC sends).
func pionMisreads(frame []byte) bool {
	return len(frame) < 9 || (frame[0]&0xc0 == 0x40 && stun.IsMessage(frame))
}
