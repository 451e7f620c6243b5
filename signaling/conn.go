package signaling

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// Timings for every signaling WebSocket, both ends.
const (
	writeTimeout = 10 * time.Second
	pingInterval = 15 * time.Second
	// readTimeout: a peer that answers no ping for this long is gone.
	readTimeout = 2*pingInterval + 5*time.Second
	// outboxSize bounds messages waiting to be written to one peer. A peer that cannot keep up is
	// disconnected (it reconnects) instead of the relay buffering without limit.
	outboxSize = 256
)

// ErrSlowPeer is the cause recorded when a peer's outbox overflows.
var ErrSlowPeer = errors.New("signaling: peer too slow, outbox full")

// wsConn is what a peerConn needs of a WebSocket; fasthttp/websocket's Conn (server side and
// client side) provides it.
type wsConn interface {
	ReadMessage() (int, []byte, error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadLimit(limit int64)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetPongHandler(h func(appData string) error)
	Close() error
}

// peerConn is one signaling WebSocket: reads happen on the caller's goroutine, writes on one
// writer goroutine fed by a bounded outbox, with pings keeping idle connections checked.
type peerConn struct {
	ws     wsConn
	log    *slog.Logger
	outbox chan []byte
	closed chan struct{}
	once   sync.Once
	cause  error
}

func newPeerConn(ws wsConn, log *slog.Logger) *peerConn {
	ws.SetReadLimit(MaxMessageSize)
	_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(readTimeout))
	})
	return &peerConn{ws: ws, log: log, outbox: make(chan []byte, outboxSize), closed: make(chan struct{})}
}

// send queues msg for the peer without blocking. It reports false, and closes the connection,
// when the outbox is full.
func (p *peerConn) send(msg []byte) bool {
	select {
	case <-p.closed:
		return false
	default:
	}
	select {
	case p.outbox <- msg:
		return true
	default:
		p.close(ErrSlowPeer)
		return false
	}
}

// sendEnvelope encodes and queues one message.
func (p *peerConn) sendEnvelope(t Type, sid string, data any) bool {
	msg, err := Encode(t, sid, data)
	if err != nil {
		p.log.Error("encode signaling message", "type", t, "err", err)
		return false
	}
	return p.send(msg)
}

// sendError tells the peer why its message was refused; msg is for people.
func (p *peerConn) sendError(sid, code, msg string) {
	p.sendEnvelope(TypeError, sid, ErrorMessage{Code: code, Message: msg})
}

// writeLoop writes queued messages and pings until ctx ends or the connection breaks. It owns
// every write to the socket. When ctx ends it writes what is still queued (a final error or bye)
// and a close frame, then closes the socket, which also unblocks the reader.
func (p *peerConn) writeLoop(ctx context.Context) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			p.drainAndClose(websocket.CloseGoingAway, "")
			return
		case <-p.closed:
			return
		case msg := <-p.outbox:
			_ = p.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := p.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				p.close(err)
				return
			}
		case <-ping.C:
			if err := p.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				p.close(err)
				return
			}
		}
	}
}

// drainAndClose writes what is queued and a close frame, best effort within a second.
func (p *peerConn) drainAndClose(code int, reason string) {
	deadline := time.Now().Add(time.Second)
	_ = p.ws.SetWriteDeadline(deadline)
drain:
	for {
		select {
		case msg := <-p.outbox:
			if p.ws.WriteMessage(websocket.TextMessage, msg) != nil {
				break drain
			}
		default:
			break drain
		}
	}
	_ = p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	p.close(nil)
}

// read returns the next text message.
func (p *peerConn) read() ([]byte, error) {
	for {
		kind, msg, err := p.ws.ReadMessage()
		if err != nil {
			p.close(err)
			return nil, err
		}
		if kind == websocket.TextMessage {
			return msg, nil
		}
		// Binary frames have no meaning in signaling; ignoring them keeps the loop simple.
	}
}

// close marks the connection closed and closes the socket, which unblocks read.
func (p *peerConn) close(cause error) {
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

// done is closed when the connection is closed.
func (p *peerConn) done() <-chan struct{} { return p.closed }
