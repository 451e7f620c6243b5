package fakemps_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

const (
	guid    = "8c4c4c4c-0000-1111-2222-0123456789ab"
	offline = "8c4c4c4c-0000-1111-2222-000000000002"
	unknown = "8c4c4c4c-0000-1111-2222-000000000003"
)

// t0 is the fake's clock at the start: 2026-01-02T03:04:05Z = 1767323045.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	devs  *fakemps.MemDevices
	dev   *fakemps.MemDevice
	fake  *fakemps.Server
	clock *testenv.Clock
	ts    *httptest.Server
}

func newEnv(t *testing.T, mod func(*fakemps.Config)) *env {
	t.Helper()
	e := &env{devs: fakemps.NewMemDevices(), clock: testenv.NewClock(t0)}
	e.dev = e.devs.Add(fakemps.DeviceInfo{GUID: guid, Hostname: "amt-1", FriendlyName: "Lab PC", Tags: []string{"lab"}, MPSUsername: "cira"})
	e.dev.SetConnected(true)
	e.devs.Add(fakemps.DeviceInfo{GUID: offline, Hostname: "amt-2"})
	cfg := fakemps.Config{
		Devices: e.devs,
		Users:   map[string]string{"admin": "G@ppm0ym"},
		Secret:  []byte("a secret of at least 32 bytes long!!"),
		Now:     e.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	e.fake, err = fakemps.New(cfg)
	require.NoError(t, err)
	e.ts = httptest.NewServer(e.fake.Handler())
	t.Cleanup(func() {
		e.fake.Close()
		e.ts.Close()
	})
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// do sends a request and returns the status and body.
func (e *env) do(t *testing.T, method, path, body, token string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, e.ts.URL+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// token fetches a token from a {token} reply.
func token(t *testing.T, status int, body string) string {
	t.Helper()
	require.Equal(t, http.StatusOK, status, body)
	var out struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	return out.Token
}

func (e *env) login(t *testing.T) string {
	s, b := e.do(t, http.MethodPost, "/api/v1/authorize", `{"username":"admin","password":"G@ppm0ym"}`, "")
	return token(t, s, b)
}

func (e *env) redirectionToken(t *testing.T, g string) string {
	s, b := e.do(t, http.MethodGet, "/api/v1/authorize/redirection/"+g, "", "")
	return token(t, s, b)
}

// jwtPart decodes a JWT's header (0) or payload (1).
func jwtPart(t *testing.T, tok string, i int) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	return string(b)
}

// relayQuery is what MPS's consoles send.
const relayQuery = "p=2&host=" + guid + "&port=16994&tls=0&tls1only=0&mode=kvm"

// dialRaw opens the relay with a raw WebSocket client; protocol "" sends none.
func (e *env) dialRaw(t *testing.T, query, protocol string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if protocol != "" {
		d.Subprotocols = []string{protocol}
	}
	u := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/relay/webrelay.ashx?" + query
	ws, resp, err := d.DialContext(ctxT(t), u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// open opens a KVM relay to guid and the device end of its channel.
func (e *env) open(t *testing.T) (*websocket.Conn, net.Conn) {
	t.Helper()
	tok := e.redirectionToken(t, guid)
	ws, _, err := e.dialRaw(t, relayQuery, tok)
	require.NoError(t, err)
	require.Equal(t, tok, ws.Subprotocol(), "MPS echoes the token as the protocol")
	devEnd, err := e.dev.Accept(ctxT(t))
	require.NoError(t, err)
	t.Cleanup(func() { devEnd.Close() })
	return ws, devEnd
}

func readFullBytes(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	require.NoError(t, err)
	return b
}
