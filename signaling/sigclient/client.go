package sigclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kvmrelay/kvmrelay/signaling/internal/peerconn"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ErrRefused is returned by Dial when the relay answered the upgrade with an HTTP error.
var ErrRefused = errors.New("signaling: relay refused the connection")

// handshakeTimeout bounds the TCP, TLS and WebSocket handshakes together.
const handshakeTimeout = 10 * time.Second

// DialConfig configures a signaling client (the agent, or a non-browser console).
type DialConfig struct {
	// URL is the WebSocket endpoint, e.g. ws://127.0.0.1:8080/ws/agent.
	URL string
	// Token is sent as Authorization: Bearer when set.
	Token string
	// Header holds further request headers for the upgrade (an agent's proof of key).
	Header http.Header
	// TLS configures a wss:// connection (client certificate, trusted roots); nil uses Go's
	// defaults.
	TLS *tls.Config
	// Origin is sent when set (browsers always send one; agents normally none).
	Origin string
	Logger *slog.Logger
}

// Client is one signaling connection from the peer side.
type Client struct {
	pc     *peerconn.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Dial connects to the relay. An HTTP refusal (bad token, foreign origin) wraps ErrRefused and
// carries the status code in its text.
func Dial(ctx context.Context, cfg DialConfig) (*Client, error) {
	header := cfg.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if cfg.Token != "" {
		header.Set("Authorization", "Bearer "+cfg.Token)
	}
	if cfg.Origin != "" {
		header.Set("Origin", cfg.Origin)
	}
	// Proxy stays nil: the agent connects directly, as it always has.
	dialer := websocket.Dialer{
		HandshakeTimeout: handshakeTimeout,
		Subprotocols:     []string{wire.Subprotocol},
		TLSClientConfig:  cfg.TLS,
	}
	ws, resp, err := dialer.DialContext(ctx, cfg.URL, header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: HTTP %d from %s", ErrRefused, resp.StatusCode, cfg.URL)
		}
		return nil, fmt.Errorf("signaling: dial %s: %w", cfg.URL, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	wctx, cancel := context.WithCancel(context.Background())
	c := &Client{pc: peerconn.New(ws, log), cancel: cancel}
	c.wg.Go(func() { c.pc.WriteLoop(wctx) })
	return c, nil
}

// Send queues one message; it fails when the connection is closed or cannot keep up.
func (c *Client) Send(t wire.Type, sid string, data any) error {
	msg, err := wire.Encode(t, sid, data)
	if err != nil {
		return err
	}
	return c.SendRaw(msg)
}

// SendRaw queues an already encoded message (tests use it to send malformed ones).
func (c *Client) SendRaw(msg []byte) error {
	if !c.pc.Send(msg) {
		return fmt.Errorf("signaling: connection closed: %w", c.Err())
	}
	return nil
}

// Recv blocks for the next message. It returns an error once the connection is closed.
func (c *Client) Recv() (wire.Envelope, error) {
	raw, err := c.pc.Read()
	if err != nil {
		return wire.Envelope{}, err
	}
	return wire.Decode(raw)
}

// Err is why the connection closed, if it did.
func (c *Client) Err() error {
	select {
	case <-c.pc.Done():
		if cause := c.pc.Cause(); cause != nil {
			return cause
		}
		return errors.New("closed")
	default:
		return nil
	}
}

// Done is closed when the connection closes.
func (c *Client) Done() <-chan struct{} { return c.pc.Done() }

// Close sends what is queued and a close frame, then closes the connection.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}
