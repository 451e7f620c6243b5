package signaling

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

type testRelay struct {
	url    string
	issuer *auth.Issuer
	bus    *MemoryBus
	srv    *Server
}

func startRelay(t *testing.T) *testRelay { return startRelayWith(t, nil) }

// startRelayWith lets a test adjust the server's Config before it starts.
func startRelayWith(t *testing.T, adjust func(*Config)) *testRelay {
	t.Helper()
	key, err := auth.GenerateKey()
	require.NoError(t, err)
	ring, err := auth.NewKeyring(key)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: ring, Name: "kvmrelay"})
	require.NoError(t, err)
	bus := NewMemoryBus()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := Config{Bus: bus, Registry: NewMemoryRegistry(), Issuer: iss, PublicURL: "http://" + ln.Addr().String()}
	if adjust != nil {
		adjust(&cfg)
	}
	srv, err := NewServer(cfg)
	require.NoError(t, err)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	srv.Mount(app)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, app.Shutdown())
		bus.Close()
	})
	return &testRelay{url: "ws://" + ln.Addr().String(), issuer: iss, bus: bus, srv: srv}
}

func (r *testRelay) consoleToken(t *testing.T, device, sid string) string {
	t.Helper()
	tok, _, err := r.issuer.Mint(auth.Claims{Subject: "alice", Audience: auth.AudienceConsole, Device: device, Session: sid}, time.Minute)
	require.NoError(t, err)
	return tok
}

func (r *testRelay) agentToken(t *testing.T, device string) string {
	t.Helper()
	tok, _, err := r.issuer.Mint(auth.Claims{Subject: device, Audience: auth.AudienceAgent, Device: device}, time.Minute)
	require.NoError(t, err)
	return tok
}

func (r *testRelay) origin() string { return "http://" + strings.TrimPrefix(r.url, "ws://") }

func (r *testRelay) dial(t *testing.T, path, token, origin string) (*sigclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: r.url + path, Token: token, Origin: origin})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// recv reads the next message with a timeout.
func recv(t *testing.T, c *sigclient.Client) (wire.Envelope, error) {
	t.Helper()
	type res struct {
		e   wire.Envelope
		err error
	}
	ch := make(chan res, 1)
	go func() { e, err := c.Recv(); ch <- res{e, err} }()
	select {
	case r := <-ch:
		return r.e, r.err
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a signaling message")
		return wire.Envelope{}, nil
	}
}

// expectNothing asserts that no session message (anything but presence notices, which may
// legitimately arrive at any time) reaches c within the window.
func expectNothing(t *testing.T, c *sigclient.Client, within time.Duration) {
	t.Helper()
	ch := make(chan wire.Envelope, 16)
	go func() {
		for {
			e, err := c.Recv()
			if err != nil {
				close(ch)
				return
			}
			ch <- e
		}
	}()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			if e.Type != wire.TypeAgentStatus {
				t.Fatalf("unexpected message %s %s", e.Type, e.Data)
			}
		case <-deadline:
			return
		}
	}
}

// waitOnline reads a console's messages until its device's agent is reported online.
func waitOnline(t *testing.T, c *sigclient.Client) {
	t.Helper()
	for {
		e, err := recv(t, c)
		require.NoError(t, err)
		if e.Type != wire.TypeAgentStatus {
			continue
		}
		var st wire.AgentStatus
		require.NoError(t, wire.DecodeData(e, &st))
		if st.Online {
			return
		}
	}
}

func recvType(t *testing.T, c *sigclient.Client, want wire.Type) wire.Envelope {
	t.Helper()
	for {
		e, err := recv(t, c)
		require.NoError(t, err)
		if e.Type == want {
			return e
		}
		if e.Type == wire.TypeAgentStatus || e.Type == wire.TypeWelcome {
			continue
		}
		t.Fatalf("got %s (%s), want %s", e.Type, e.Data, want)
	}
}

// TestUpgradeChecks is SECURITY.md item 2 (foreign Origin refused before the upgrade, with a
// valid token) and item 6 at the WebSocket (bad tokens → 401).
func TestUpgradeChecks(t *testing.T) {
	r := startRelay(t)
	console := r.consoleToken(t, "dev1", "s_1")
	agent := r.agentToken(t, "dev1")
	cases := []struct {
		name, path, token, origin string
		status                    int // 0 = accepted
	}{
		{"console same origin", "/ws/console", console, r.origin(), 0},
		{"console no origin (non-browser)", "/ws/console", console, "", 0},
		{"console evil origin", "/ws/console", console, "https://evil.example", 403},
		{"console origin with other port", "/ws/console", console, "http://127.0.0.1:1", 403},
		{"console null origin", "/ws/console", console, "null", 403},
		{"agent evil origin", "/ws/agent", agent, "https://evil.example", 403},
		{"console no token", "/ws/console", "", r.origin(), 401},
		{"console with agent token", "/ws/console", agent, r.origin(), 401},
		{"agent with console token", "/ws/agent", console, "", 401},
		{"console garbage token", "/ws/console", "abc.def.ghi", r.origin(), 401},
		{"agent ok", "/ws/agent", agent, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := r.dial(t, tc.path, tc.token, tc.origin)
			if tc.status == 0 {
				require.NoError(t, err)
				c.Close()
				return
			}
			require.ErrorIs(t, err, sigclient.ErrRefused)
			assert.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", tc.status))
		})
	}
}

func TestBrowserSubprotocolToken(t *testing.T) {
	r := startRelay(t)
	tok := r.consoleToken(t, "dev1", "s_1")
	// A browser cannot set Authorization on a WebSocket; it sends the token as a subprotocol.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Origin", r.origin())
	d := websocket.Dialer{Subprotocols: []string{wire.Subprotocol, "bearer." + tok}}
	ws, resp, err := d.DialContext(ctx, r.url+"/ws/console", h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	defer ws.Close()
	assert.Equal(t, wire.Subprotocol, ws.Subprotocol(), "the relay answers with the protocol, never the token")
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, raw, err := ws.ReadMessage()
	require.NoError(t, err)
	e, err := wire.Decode(raw)
	require.NoError(t, err)
	assert.Equal(t, wire.TypeWelcome, e.Type)
}

// TestRouting checks the happy path through the relay in both directions.
func TestRouting(t *testing.T) {
	r := startRelay(t)
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), r.origin())
	require.NoError(t, err)
	w := recvType(t, console, wire.TypeWelcome)
	var welcome wire.Welcome
	require.NoError(t, wire.DecodeData(w, &welcome))
	assert.Equal(t, "s_1", welcome.SID)
	assert.Equal(t, "dev1", welcome.Device)
	waitOnline(t, console)

	require.NoError(t, console.Send(wire.TypeJoin, "s_1", wire.Join{Codecs: []string{"video/H264"}}))
	start := recvType(t, agent, wire.TypeSessionStart)
	assert.Equal(t, "s_1", start.SID)
	var ss wire.SessionStart
	require.NoError(t, wire.DecodeData(start, &ss))
	assert.Equal(t, "alice", ss.Principal)
	assert.Equal(t, []string{"video/H264"}, ss.Codecs)

	require.NoError(t, agent.Send(wire.TypeOffer, "s_1", wire.SDP{SDP: testSDP(1)}))
	offer := recvType(t, console, wire.TypeOffer)
	assert.Equal(t, "s_1", offer.SID)
	require.NoError(t, console.Send(wire.TypeAnswer, "s_1", wire.SDP{SDP: testSDP(1)}))
	recvType(t, agent, wire.TypeAnswer)
	mid := "0"
	require.NoError(t, agent.Send(wire.TypeCandidate, "s_1", wire.Candidate{Candidate: "candidate:1 1 udp 1 198.18.0.1 5000 typ host", SDPMid: &mid}))
	recvType(t, console, wire.TypeCandidate)

	// The console leaving tells the agent.
	console.Close()
	bye := recvType(t, agent, wire.TypeBye)
	assert.Equal(t, "s_1", bye.SID)
}

// TestCrossSessionRefused is SECURITY.md item 4: a console of one session, or an agent of one
// device, naming another session is refused and nothing reaches the other side.
func TestCrossSessionRefused(t *testing.T) {
	r := startRelay(t)
	agentA, err := r.dial(t, "/ws/agent", r.agentToken(t, "devA"), "")
	require.NoError(t, err)
	agentB, err := r.dial(t, "/ws/agent", r.agentToken(t, "devB"), "")
	require.NoError(t, err)
	consoleA, err := r.dial(t, "/ws/console", r.consoleToken(t, "devA", "s_A"), r.origin())
	require.NoError(t, err)
	consoleB, err := r.dial(t, "/ws/console", r.consoleToken(t, "devB", "s_B"), r.origin())
	require.NoError(t, err)
	recvType(t, consoleA, wire.TypeWelcome)
	recvType(t, consoleB, wire.TypeWelcome)
	waitOnline(t, consoleA)
	waitOnline(t, consoleB)

	t.Run("console names another session", func(t *testing.T) {
		for _, typ := range []wire.Type{wire.TypeJoin, wire.TypeAnswer, wire.TypeCandidate, wire.TypeBye} {
			var data any = wire.Join{}
			switch typ {
			case wire.TypeAnswer:
				data = wire.SDP{SDP: testSDP(1)}
			case wire.TypeCandidate:
				data = wire.Candidate{Candidate: "candidate:1 1 udp 1 198.18.0.1 5000 typ host"}
			case wire.TypeBye:
				data = wire.Bye{Reason: "x"}
			}
			require.NoError(t, consoleA.Send(typ, "s_B", data))
			e := recvType(t, consoleA, wire.TypeError)
			var em wire.ErrorMessage
			require.NoError(t, wire.DecodeData(e, &em))
			assert.Equal(t, wire.CodeForbidden, em.Code, "type %s", typ)
		}
		expectNothing(t, agentB, 300*time.Millisecond)
	})
	t.Run("agent names another device's session", func(t *testing.T) {
		require.NoError(t, agentA.Send(wire.TypeOffer, "s_B", wire.SDP{SDP: testSDP(1)}))
		e := recvType(t, agentA, wire.TypeError)
		var em wire.ErrorMessage
		require.NoError(t, wire.DecodeData(e, &em))
		assert.Equal(t, wire.CodeForbidden, em.Code)
		require.NoError(t, agentA.Send(wire.TypeCandidate, "s_B", wire.Candidate{Candidate: "candidate:1 1 udp 1 198.18.0.1 5000 typ host"}))
		recvType(t, agentA, wire.TypeError)
		expectNothing(t, consoleB, 300*time.Millisecond)
	})
	t.Run("console may not speak for the agent", func(t *testing.T) {
		require.NoError(t, consoleA.Send(wire.TypeOffer, "s_A", wire.SDP{SDP: testSDP(1)}))
		recvType(t, consoleA, wire.TypeError)
		expectNothing(t, agentA, 300*time.Millisecond)
	})
}

// TestTwoFingerprintsRefused is SECURITY.md item 3 at the relay: an SDP with a second DTLS
// fingerprint never reaches the other peer.
func TestTwoFingerprintsRefused(t *testing.T) {
	r := startRelay(t)
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), r.origin())
	require.NoError(t, err)
	recvType(t, console, wire.TypeWelcome)
	waitOnline(t, console)
	require.NoError(t, console.Send(wire.TypeJoin, "s_1", wire.Join{Codecs: []string{"video/VP8"}}))
	recvType(t, agent, wire.TypeSessionStart)

	require.NoError(t, console.Send(wire.TypeAnswer, "s_1", wire.SDP{SDP: testSDP(2)}))
	recvType(t, console, wire.TypeError)
	require.NoError(t, agent.Send(wire.TypeOffer, "s_1", wire.SDP{SDP: testSDP(2)}))
	recvType(t, agent, wire.TypeError)
	expectNothing(t, agent, 200*time.Millisecond)
}

func TestMalformedAndOversized(t *testing.T) {
	r := startRelay(t)
	for _, tc := range []struct {
		name string
		msg  string
	}{
		{"not json", "hello"},
		{"wrong version", `{"v":2,"type":"join","sid":"s_1","data":{}}`},
		{"unknown type", `{"v":1,"type":"nope","sid":"s_1"}`},
		{"oversized", `{"v":1,"type":"candidate","sid":"s_1","data":{"candidate":"` + strings.Repeat("a", wire.MaxMessageSize) + `"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), r.origin())
			require.NoError(t, err)
			recvType(t, console, wire.TypeWelcome)
			require.NoError(t, console.SendRaw([]byte(tc.msg)))
			// The relay answers with an error (except for an oversized frame, which it cannot
			// read) and closes the connection.
			for {
				e, err := recv(t, console)
				if err != nil {
					break
				}
				if e.Type == wire.TypeError {
					var em wire.ErrorMessage
					require.NoError(t, wire.DecodeData(e, &em))
					assert.NotContains(t, em.Message, "json", "no internal error text reaches the peer")
				}
			}
		})
	}
}

// testSDP returns a minimal valid offer with n distinct fingerprints.
func testSDP(n int) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "a=fingerprint:sha-256 %02X:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67\r\n", i)
	}
	b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n")
	return b.String()
}

// TestJoinWhileAgentOffline: a join for a device whose agent is not connected is answered with
// agent-offline, and works once the agent is there.
func TestJoinWhileAgentOffline(t *testing.T) {
	r := startRelay(t)
	console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), r.origin())
	require.NoError(t, err)
	recvType(t, console, wire.TypeWelcome)
	require.NoError(t, console.Send(wire.TypeJoin, "s_1", wire.Join{Codecs: []string{"video/H264"}}))
	e := recvType(t, console, wire.TypeError)
	var em wire.ErrorMessage
	require.NoError(t, wire.DecodeData(e, &em))
	assert.Equal(t, wire.CodeAgentOffline, em.Code)

	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	waitOnline(t, console)
	require.NoError(t, console.Send(wire.TypeJoin, "s_1", wire.Join{Codecs: []string{"video/H264"}}))
	recvType(t, agent, wire.TypeSessionStart)
}
