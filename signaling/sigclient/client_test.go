package sigclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// upgrade is what the test relay saw of one upgrade request.
type upgrade struct {
	header   http.Header
	protocol string // the subprotocol it agreed to
	client   string // the TLS client certificate's common name
	hello    wire.Envelope
}

// echoRelay is a WebSocket server (TLS or not) that records each upgrade, answers with a
// welcome, reads one message and closes; status, when set, refuses the upgrade instead.
func echoRelay(t *testing.T, useTLS bool, status int) (*httptest.Server, <-chan upgrade) {
	t.Helper()
	seen := make(chan upgrade, 4)
	var handlers sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1) // before the upgrade answers, so before the test can wait
		defer handlers.Done()
		if status != 0 {
			http.Error(w, "refused", status)
			return
		}
		// Origin is recorded, not checked.
		up := websocket.Upgrader{Subprotocols: []string{wire.Subprotocol}, CheckOrigin: func(*http.Request) bool { return true }}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		u := upgrade{header: r.Header.Clone(), protocol: ws.Subprotocol()}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			u.client = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		welcome, _ := wire.Encode(wire.TypeWelcome, "s_1", wire.Welcome{SID: "s_1", Device: "dev1"})
		_ = ws.WriteMessage(websocket.TextMessage, welcome)
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, raw, err := ws.ReadMessage(); err == nil {
			u.hello, _ = wire.Decode(raw)
		}
		seen <- u
	})
	srv := httptest.NewUnstartedServer(h)
	if useTLS {
		// An agent with an identity proves it with a client certificate.
		srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		handlers.Wait()
	})
	return srv, seen
}

func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/agent"
}

// TestDial: over ws and wss (trusting the relay's certificate and presenting a client
// certificate through DialConfig.TLS), the upgrade carries the token, the origin, the caller's
// headers and the signaling subprotocol, and messages flow both ways.
func TestDial(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "ws", true: "wss"}[useTLS]
		t.Run(name, func(t *testing.T) {
			srv, seen := echoRelay(t, useTLS, 0)
			cfg := DialConfig{URL: wsURL(srv), Token: "tok-1", Origin: "https://console.example", Header: http.Header{"X-Key-Proof": {"proof-1"}}}
			if useTLS {
				roots := x509.NewCertPool()
				roots.AddCert(srv.Certificate())
				cfg.TLS = &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{testenv.SelfSignedCert(t, "agent.example").Pair}}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, cfg)
			require.NoError(t, err)
			defer c.Close()
			e, err := c.Recv()
			require.NoError(t, err)
			assert.Equal(t, wire.TypeWelcome, e.Type)
			require.NoError(t, c.Send(wire.TypeHello, "", wire.Hello{Version: "test"}))
			u := <-seen
			assert.Equal(t, "Bearer tok-1", u.header.Get("Authorization"))
			assert.Equal(t, "https://console.example", u.header.Get("Origin"))
			assert.Equal(t, "proof-1", u.header.Get("X-Key-Proof"))
			assert.Equal(t, wire.Subprotocol, u.protocol)
			assert.Equal(t, wire.TypeHello, u.hello.Type)
			if useTLS {
				assert.Equal(t, "agent.example", u.client)
			}
			assert.Equal(t, "proof-1", cfg.Header.Get("X-Key-Proof"), "the caller's header is not modified")
			assert.Empty(t, cfg.Header.Get("Authorization"), "the caller's header is not modified")
			// The relay closed after the hello: the client notices.
			_, err = c.Recv()
			require.Error(t, err)
			<-c.Done()
			assert.Error(t, c.Err())
		})
	}
}

// TestDialErrors: an HTTP refusal is ErrRefused with its status; a relay whose certificate is
// not trusted is a dial error, not a refusal.
func TestDialErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tls     bool
		status  int
		refused bool
		text    string
	}{
		{"unauthorized", false, http.StatusUnauthorized, true, "HTTP 401"},
		{"forbidden", false, http.StatusForbidden, true, "HTTP 403"},
		{"untrusted certificate", true, 0, false, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := echoRelay(t, tc.tls, tc.status)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, DialConfig{URL: wsURL(srv), Token: "tok-1"})
			if c != nil {
				c.Close()
			}
			require.Error(t, err)
			assert.Equal(t, tc.refused, errors.Is(err, ErrRefused))
			assert.Contains(t, err.Error(), tc.text)
		})
	}
}

// TestSendAfterClose: a closed client refuses to queue, saying why.
func TestSendAfterClose(t *testing.T) {
	srv, _ := echoRelay(t, false, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, DialConfig{URL: wsURL(srv)})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	<-c.Done()
	assert.Error(t, c.Send(wire.TypeHello, "", wire.Hello{Version: "test"}))
}
