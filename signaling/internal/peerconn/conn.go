// Package peerconn is one signaling WebSocket as both ends run it: reads on the caller's
// goroutine, writes on one writer goroutine fed by a bounded outbox, pings that keep an idle
// connection checked, and a read deadline that drops a peer that stops answering them. The
// relay runs it over fasthttp/websocket, agents and consoles over gorilla/websocket: both
// provide the WebSocket interface.
package peerconn

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Timings for every signaling WebSocket, both ends.
const (
	writeTimeout = 10 * time.Second
	pingInterval = 15 * time.Second
	// readTimeout: a peer that answers no ping for this long is gone.
	readTimeout = 2*pingInterval + 5*time.Second
	// OutboxSize bounds messages waiting to be written to one peer. A peer that cannot keep up
	// is disconnected (it reconnects) instead of the sender buffering without limit.
	OutboxSize = 256
)

// Message types and close codes of RFC 6455, the values both WebSocket libraries use.
const (
	textMessage    = 1
	closeMessage   = 8
	pingMessage    = 9
	closeGoingAway = 1001
)

// ErrSlowPeer is the cause recorded when a peer's outbox overflows.
var ErrSlowPeer = errors.New("signaling: peer too slow, outbox full")

// ErrSubscriptionCut is the cause recorded when the bus cut a connection's subscription (the
// bus's connection was lost, or the subscriber fell behind): the peer reconnects with a clean
// state rather than miss messages.
var ErrSubscriptionCut = errors.New("signaling: the bus cut this connection's subscription (bus outage or slow subscriber); the peer reconnects")

// WebSocket is what a Conn needs of a WebSocket connection; the Conn types of
// fasthttp/websocket and gorilla/websocket (a common ancestry) both provide it.
type WebSocket interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadLimit(limit int64)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetPongHandler(h func(appData string) error)
	Close() error
}

// Conn is one signaling WebSocket. Read is called by one reader goroutine; WriteLoop runs on
// one writer goroutine, owned by whoever made the Conn.
type Conn struct {
	ws     WebSocket
	log    *slog.Logger
	ping   time.Duration // between pings
	outbox chan []byte
	closed chan struct{}
	once   sync.Once
	cause  error
}

// New wraps ws: messages over wire.MaxMessageSize are refused, and a peer that answers no
// ping for readTimeout is dropped.
func New(ws WebSocket, log *slog.Logger) *Conn {
	return newConn(ws, log, pingInterval, readTimeout)
}

// newConn is New with other timings (tests).
func newConn(ws WebSocket, log *slog.Logger, ping, read time.Duration) *Conn {
	ws.SetReadLimit(wire.MaxMessageSize)
	_ = ws.SetReadDeadline(time.Now().Add(read))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(read))
	})
	return &Conn{ws: ws, log: log, ping: ping, outbox: make(chan []byte, OutboxSize), closed: make(chan struct{})}
}

// Send queues msg for the peer without blocking. It reports false, and closes the connection,
// when the outbox is full.
func (p *Conn) Send(msg []byte) bool {
	select {
	case <-p.closed:
		return false
	default:
	}
	select {
	case p.outbox <- msg:
		return true
	default:
		p.Close(ErrSlowPeer)
		return false
	}
}

// SendBelow queues msg only while fewer than high messages wait, and never closes the
// connection: a full outbox drops msg instead. It reports whether msg was queued.
func (p *Conn) SendBelow(msg []byte, high int) bool {
	select {
	case <-p.closed:
		return false
	default:
	}
	if len(p.outbox) >= high {
		return false
	}
	select {
	case p.outbox <- msg:
		return true
	default:
		return false
	}
}

// Queued is how many messages wait to be written.
func (p *Conn) Queued() int { return len(p.outbox) }

// SendEnvelope encodes and queues one message.
func (p *Conn) SendEnvelope(t wire.Type, sid string, data any) bool {
	msg, err := wire.Encode(t, sid, data)
	if err != nil {
		p.log.Error("encode signaling message", "type", t, "err", err)
		return false
	}
	return p.Send(msg)
}

// SendError tells the peer why its message was refused; msg is for people.
func (p *Conn) SendError(sid, code, msg string) {
	p.SendEnvelope(wire.TypeError, sid, wire.ErrorMessage{Code: code, Message: msg})
}

// WriteLoop writes queued messages and pings until ctx ends or the connection breaks. It owns
// every write to the socket. When ctx ends it writes what is still queued (a final error or bye)
// and a close frame, then closes the socket, which also unblocks the reader.
func (p *Conn) WriteLoop(ctx context.Context) {
	ping := time.NewTicker(p.ping)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			p.drainAndClose(closeGoingAway, "")
			return
		case <-p.closed:
			return
		case msg := <-p.outbox:
			_ = p.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := p.ws.WriteMessage(textMessage, msg); err != nil {
				p.Close(err)
				return
			}
		case <-ping.C:
			if err := p.ws.WriteControl(pingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				p.Close(err)
				return
			}
		}
	}
}

// drainAndClose writes what is queued and a close frame, best effort within a second.
func (p *Conn) drainAndClose(code uint16, reason string) {
	deadline := time.Now().Add(time.Second)
	_ = p.ws.SetWriteDeadline(deadline)
drain:
	for {
		select {
		case msg := <-p.outbox:
			if p.ws.WriteMessage(textMessage, msg) != nil {
				break drain
			}
		default:
			break drain
		}
	}
	_ = p.ws.WriteControl(closeMessage, closePayload(code, reason), deadline)
	p.Close(nil)
}

// closePayload is a close frame's body: the status code, big-endian, then the reason.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), code), reason...)
}

// Read returns the next text message.
func (p *Conn) Read() ([]byte, error) {
	for {
		kind, msg, err := p.ws.ReadMessage()
		if err != nil {
			p.Close(err)
			return nil, err
		}
		if kind == textMessage {
			return msg, nil
		}
		// Binary frames have no meaning in signaling; ignoring them keeps the loop simple.
	}
}

// Close marks the connection closed with cause and closes the socket, which unblocks Read.
// Only the first call counts.
func (p *Conn) Close(cause error) {
	p.once.Do(func() {
		p.cause = cause
		close(p.closed)
		// On the relay side the socket is fasthttp's hijacked connection, whose Close does
		// nothing until the handler returns; an expired read deadline is what unblocks the
		// reader now instead of at its next timeout.
		_ = p.ws.SetReadDeadline(time.Now())
		_ = p.ws.Close()
	})
}

// Done is closed when the connection is closed.
func (p *Conn) Done() <-chan struct{} { return p.closed }

// Cause is what Close was called with: nil while open, and for an orderly close.
func (p *Conn) Cause() error {
	select {
	case <-p.closed:
		return p.cause
	default:
		return nil
	}
}
