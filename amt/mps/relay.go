package mps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// handshakeTimeout bounds the TCP, TLS and WebSocket handshakes of the relay together.
const handshakeTimeout = 15 * time.Second

// KVMPort is AMT's redirection port, which the relay opens a CIRA channel to.
const KVMPort = 16994

// DialKVM opens MPS's relay WebSocket to the device's redirection port for a KVM session and
// returns it as a byte stream. It fetches a redirection token and offers it as the only
// WebSocket subprotocol, as MPS requires; with p=2 MPS injects the AMT credentials into the
// redirection digest. A refused upgrade (MPS answers 401 for every reason) is told apart by
// asking MPS: ErrNotConnected, ErrInUse, or else ErrTokenRefused.
//
// The caller must Close the conn as soon as the session ends. When the device's CIRA link
// drops, MPS leaves the WebSocket open and silent: detect that with a read deadline or by
// watching the device.
func (c *Client) DialKVM(ctx context.Context, guid string) (net.Conn, error) {
	g, err := normGUID(guid)
	if err != nil {
		return nil, err
	}
	token, err := c.RedirectionToken(ctx, g)
	if err != nil {
		return nil, err
	}
	u := c.relayURL(g)
	d := websocket.Dialer{
		HandshakeTimeout: handshakeTimeout,
		Subprotocols:     []string{token},
		TLSClientConfig:  c.tls,
		Proxy:            c.proxy,
	}
	ws, resp, err := d.DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp == nil {
			return nil, fmt.Errorf("mps: relay to %s: cannot reach MPS at %s: %w", g, u.Host, err)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, c.refusal(ctx, g)
		}
		return nil, fmt.Errorf("mps: relay to %s: MPS answered HTTP %d at %s (check the relay path)", g, resp.StatusCode, u.Path)
	}
	c.log.Debug("mps: relay open", "device", g, "mps", u.Host)
	return newRelayConn(ws), nil
}

// refusal explains a 401 at the relay upgrade: MPS gives the same answer for a bad token, a
// device without a link and a device already in a KVM session.
func (c *Client) refusal(ctx context.Context, g string) error {
	st, err := c.RedirectStatus(ctx, g)
	switch {
	case errors.Is(err, ErrNotConnected):
		return fmt.Errorf("mps: relay to %s refused: %w", g, ErrNotConnected)
	case err != nil:
		return fmt.Errorf("mps: relay to %s refused, and asking why failed: %w", g, err)
	case st.KVM:
		return fmt.Errorf("mps: relay to %s refused: %w", g, ErrInUse)
	}
	return fmt.Errorf("mps: relay to %s refused: %w", g, ErrTokenRefused)
}

// relayURL is ws(s)://host/…/webrelay.ashx with the query MPS's own consoles send.
func (c *Client) relayURL(g string) *url.URL {
	u := c.url(c.paths.Relay)
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.RawQuery = fmt.Sprintf("p=2&host=%s&port=%d&tls=0&tls1only=0&mode=kvm", g, KVMPort)
	return u
}
