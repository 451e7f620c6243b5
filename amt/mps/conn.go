package mps

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// maxMessage bounds one relay message. MPS forwards each CIRA data chunk as one message, and
	// drops a CIRA link sending chunks over 1 MiB; a TEXT message is at most twice that.
	maxMessage = 4 << 20
	// maxFrame splits large writes so MPS never buffers a huge message at once.
	maxFrame = 64 << 10
	// closeGrace bounds sending our close frame when closing.
	closeGrace = time.Second
)

// relayConn is the relay WebSocket as a byte stream: Read decodes TEXT messages (one byte per
// code point) and passes BINARY ones through, ignoring message boundaries; Write sends BINARY
// messages.
type relayConn struct {
	ws *websocket.Conn

	readMu  sync.Mutex
	r       io.Reader // the current message; nil between messages
	text    bool
	dec     textDecoder
	readErr error // sticky: gorilla cannot read again after a failed read

	writeMu  sync.Mutex
	writeErr error

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

func newRelayConn(ws *websocket.Conn) *relayConn {
	ws.SetReadLimit(maxMessage)
	return &relayConn{ws: ws, closed: make(chan struct{})}
}

// Read reads device bytes. It returns io.EOF when MPS closed the WebSocket (the device ended
// the session), and an error wrapping io.ErrUnexpectedEOF when the connection broke without a
// close. A read deadline that passes ends the connection: a WebSocket cannot resume a read.
func (c *relayConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if c.readErr != nil {
			return 0, c.readErr
		}
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				c.readErr = c.readError(err)
				return 0, c.readErr
			}
			c.r, c.text = r, typ == websocket.TextMessage
		}
		n, err := c.r.Read(p)
		if c.text && n > 0 {
			var derr error
			if n, derr = c.dec.decode(p, p[:n]); derr != nil {
				c.readErr = derr
				if n == 0 {
					return 0, derr
				}
				return n, nil // the bytes before the bad one are good; the error comes next
			}
		}
		if errors.Is(err, io.EOF) {
			c.r = nil
			if c.text {
				if derr := c.dec.end(); derr != nil {
					c.readErr = derr
				}
			}
			err = nil
		}
		if err != nil {
			c.readErr = c.readError(err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// readError maps gorilla's read errors to what a byte stream reports.
func (c *relayConn) readError(err error) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case websocket.CloseNormalClosure, websocket.CloseNoStatusReceived, websocket.CloseGoingAway:
			return io.EOF
		case websocket.CloseAbnormalClosure:
			return fmt.Errorf("mps: the relay connection broke without a close (MPS restarted or the network dropped): %w", io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("mps: MPS closed the relay with code %d %q: %w", ce.Code, ce.Text, io.ErrUnexpectedEOF)
	}
	if isTimeout(err) {
		return timeoutError("read", err)
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return fmt.Errorf("mps: relay message larger than %d bytes: %w", maxMessage, err)
	}
	return fmt.Errorf("mps: relay read: %w", err)
}

// Write sends p as BINARY messages.
func (c *relayConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+maxFrame)]
		if err := c.ws.WriteMessage(websocket.BinaryMessage, chunk); err != nil {
			select {
			case <-c.closed:
				c.writeErr = net.ErrClosed
			default:
				if isTimeout(err) {
					c.writeErr = timeoutError("write", err)
				} else {
					c.writeErr = fmt.Errorf("mps: relay write: %w", err)
				}
			}
			return n, c.writeErr
		}
		n += len(chunk)
	}
	return n, nil
}

// Close sends a close frame (without waiting for MPS's answer) and closes the connection at
// once: MPS v2.25.3 crashed on a relay socket that lingered after its device had gone.
func (c *relayConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeGrace))
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

func (c *relayConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *relayConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *relayConn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.ws.SetWriteDeadline(t)
}

func (c *relayConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *relayConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// timeoutError makes a deadline error match os.ErrDeadlineExceeded, as net.Conn promises
// (through TLS and gorilla the original does not always).
func timeoutError(op string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("mps: relay %s: %w", op, err)
	}
	return fmt.Errorf("mps: relay %s: %w (%w)", op, os.ErrDeadlineExceeded, err)
}
