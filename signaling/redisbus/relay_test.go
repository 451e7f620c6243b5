package redisbus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// node is one relay node: a signaling.Server on its own port with its own Bus and Registry.
type node struct{ url string }

// cluster is relay nodes sharing one Redis and one token issuer, as behind a load balancer.
type cluster struct {
	issuer *auth.Issuer
	nodes  []node
}

func startCluster(t *testing.T, srv *testenv.Redis, n int) *cluster {
	t.Helper()
	key, err := auth.GenerateKey()
	require.NoError(t, err)
	ring, err := auth.NewKeyring(key)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: ring, Name: "kvmrelay"})
	require.NoError(t, err)
	c := &cluster{issuer: iss}
	for range n {
		c.nodes = append(c.nodes, startNode(t, srv, iss))
	}
	return c
}

func startNode(t *testing.T, srv *testenv.Redis, iss *auth.Issuer) node {
	t.Helper()
	cfg := testConfig(srv)
	bus, reg := newBus(t, cfg), newRegistry(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// Consoles dial with the node's own origin, which is its public URL.
	s, err := signaling.NewServer(signaling.Config{Bus: bus, Registry: reg, Issuer: iss, Logger: testLogger(),
		PublicURL: "http://" + ln.Addr().String()})
	require.NoError(t, err)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	s.Mount(app)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.NoError(t, app.Shutdown())
	})
	return node{url: "ws://" + ln.Addr().String()}
}

// peer is a signaling client with one goroutine reading it, so tests can wait for a message
// with a timeout, or for none, without two readers racing.
type peer struct {
	*sigclient.Client
	in chan wire.Envelope // closed when the connection ends
}

func (c *cluster) console(t *testing.T, n node, device, sid string) *peer {
	t.Helper()
	tok, _, err := c.issuer.Mint(auth.Claims{Subject: "alice", Audience: auth.AudienceConsole, Device: device, Session: sid}, time.Minute)
	require.NoError(t, err)
	return dial(t, n.url+"/ws/console", tok, "http://"+strings.TrimPrefix(n.url, "ws://"))
}

func (c *cluster) agent(t *testing.T, n node, device string) *peer {
	t.Helper()
	tok, _, err := c.issuer.Mint(auth.Claims{Subject: device, Audience: auth.AudienceAgent, Device: device}, time.Minute)
	require.NoError(t, err)
	return dial(t, n.url+"/ws/agent", tok, "")
}

func dial(t *testing.T, url, token, origin string) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: url, Token: token, Origin: origin, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	p := &peer{Client: c, in: make(chan wire.Envelope, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.in)
		for {
			e, err := c.Recv()
			if err != nil {
				return
			}
			p.in <- e
		}
	}()
	t.Cleanup(func() {
		c.Close()
		for range p.in { // unblock the reader if the test left messages
		}
		<-done
	})
	return p
}

// recvEnv returns the next message, failing after a few seconds or if the connection closed.
func recvEnv(t *testing.T, p *peer) wire.Envelope {
	t.Helper()
	select {
	case e, ok := <-p.in:
		require.True(t, ok, "signaling connection closed: %v", p.Err())
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no signaling message within 5s")
		return wire.Envelope{}
	}
}

// recvType skips welcome and agent-status messages up to the wanted type.
func recvType(t *testing.T, p *peer, want wire.Type) wire.Envelope {
	t.Helper()
	for {
		e := recvEnv(t, p)
		if e.Type == want {
			return e
		}
		if e.Type == wire.TypeWelcome || e.Type == wire.TypeAgentStatus {
			continue
		}
		t.Fatalf("got %s (%s), want %s", e.Type, e.Data, want)
	}
}

// agentStatus waits for the next agent-status and returns its online flag.
func agentStatus(t *testing.T, p *peer) bool {
	t.Helper()
	var st wire.AgentStatus
	require.NoError(t, wire.DecodeData(recvType(t, p, wire.TypeAgentStatus), &st))
	return st.Online
}

// expectNothing asserts that no signaling for a session arrives on p within d. Agent-status is
// not such a message, and a console may legitimately see it twice when it connects while the
// agent's presence announcement is in flight.
func expectNothing(t *testing.T, p *peer, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-p.in:
			if !ok {
				return
			}
			if e.Type != wire.TypeAgentStatus {
				t.Fatalf("unexpected %s %s", e.Type, e.Data)
			}
		case <-timeout:
			return
		}
	}
}

// closedWithin waits for a signaling connection to close, ignoring what it still receives.
func (p *peer) closedWithin(t *testing.T, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-p.in:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("signaling connection still open after %s", d)
		}
	}
}

// negotiate runs join → session-start, offer, answer and a candidate each way for sid between a
// console and an agent on any nodes.
func negotiate(t *testing.T, console, agent *peer, sid string) {
	t.Helper()
	require.NoError(t, console.Send(wire.TypeJoin, sid, wire.Join{Codecs: []string{"video/H264"}}))
	start := recvType(t, agent, wire.TypeSessionStart)
	assert.Equal(t, sid, start.SID)
	var ss wire.SessionStart
	require.NoError(t, wire.DecodeData(start, &ss))
	assert.Equal(t, "alice", ss.Principal)

	require.NoError(t, agent.Send(wire.TypeOffer, sid, wire.SDP{SDP: testSDP()}))
	assert.Equal(t, sid, recvType(t, console, wire.TypeOffer).SID)
	require.NoError(t, console.Send(wire.TypeAnswer, sid, wire.SDP{SDP: testSDP()}))
	assert.Equal(t, sid, recvType(t, agent, wire.TypeAnswer).SID)

	mid := "0"
	agentCand := wire.Candidate{Candidate: "candidate:1 1 udp 1 198.18.0.1 5000 typ host", SDPMid: &mid}
	require.NoError(t, agent.Send(wire.TypeCandidate, sid, agentCand))
	var got wire.Candidate
	require.NoError(t, wire.DecodeData(recvType(t, console, wire.TypeCandidate), &got))
	assert.Equal(t, agentCand.Candidate, got.Candidate)
	consoleCand := wire.Candidate{Candidate: "candidate:2 1 udp 1 198.18.0.2 6000 typ host", SDPMid: &mid}
	require.NoError(t, console.Send(wire.TypeCandidate, sid, consoleCand))
	require.NoError(t, wire.DecodeData(recvType(t, agent, wire.TypeCandidate), &got))
	assert.Equal(t, consoleCand.Candidate, got.Candidate)
}

// TestTwoNodeRouting: a console on node A and its device's agent on node B negotiate through
// Redis; presence crosses nodes both ways.
func TestTwoNodeRouting(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := startCluster(t, srv, 2)
	a, b := c.nodes[0], c.nodes[1]

	agent := c.agent(t, b, "dev1")
	console := c.console(t, a, "dev1", "s_1")
	recvType(t, console, wire.TypeWelcome)
	require.Eventually(t, func() bool { return agentStatus(t, console) }, 5*time.Second, time.Millisecond,
		"the agent connected on node B is online for the console on node A")

	negotiate(t, console, agent, "s_1")

	// The console leaving node A tells the agent on node B.
	console.Close()
	assert.Equal(t, "s_1", recvType(t, agent, wire.TypeBye).SID)

	// The agent leaving node B tells a console on node A.
	console2 := c.console(t, a, "dev1", "s_2")
	recvType(t, console2, wire.TypeWelcome)
	assert.True(t, agentStatus(t, console2))
	agent.Close()
	assert.False(t, agentStatus(t, console2))
}

// TestTwoNodeCrossSessionRefused is SECURITY.md item 4 across nodes: naming another session is
// refused by the sender's node and nothing reaches the other session on the other node.
func TestTwoNodeCrossSessionRefused(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := startCluster(t, srv, 2)
	a, b := c.nodes[0], c.nodes[1]
	agent1 := c.agent(t, b, "dev1")
	agent2 := c.agent(t, a, "dev2")
	console1 := c.console(t, a, "dev1", "s_1")
	console2 := c.console(t, b, "dev2", "s_2")
	for _, con := range []*peer{console1, console2} {
		recvType(t, con, wire.TypeWelcome)
		require.Eventually(t, func() bool { return agentStatus(t, con) }, 5*time.Second, time.Millisecond)
	}

	forbidden := func(c *peer) {
		t.Helper()
		var em wire.ErrorMessage
		require.NoError(t, wire.DecodeData(recvType(t, c, wire.TypeError), &em))
		assert.Equal(t, wire.CodeForbidden, em.Code)
	}
	cand := wire.Candidate{Candidate: "candidate:1 1 udp 1 198.18.0.1 5000 typ host"}

	// Console of s_1 (node A) names s_2, whose agent is on node A and console on node B.
	require.NoError(t, console1.Send(wire.TypeCandidate, "s_2", cand))
	forbidden(console1)
	require.NoError(t, console1.Send(wire.TypeJoin, "s_2", wire.Join{}))
	forbidden(console1)
	// Agent of dev1 (node B) names s_2, a session of dev2 recorded by node B.
	require.NoError(t, agent1.Send(wire.TypeOffer, "s_2", wire.SDP{SDP: testSDP()}))
	forbidden(agent1)
	require.NoError(t, agent1.Send(wire.TypeCandidate, "s_2", cand))
	forbidden(agent1)
	expectNothing(t, agent2, 300*time.Millisecond)
	expectNothing(t, console2, 300*time.Millisecond)

	// Both sessions still work.
	negotiate(t, console1, agent1, "s_1")
	negotiate(t, console2, agent2, "s_2")
}

// TestTwoNodeRedisRestartDuringNegotiation is the bus half of SECURITY.md item 14: Redis dies
// mid-negotiation → both signaling connections close promptly (no half-negotiated session
// waits for messages that were lost); once Redis is back the peers reconnect and negotiate.
func TestTwoNodeRedisRestartDuringNegotiation(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := startCluster(t, srv, 2)
	a, b := c.nodes[0], c.nodes[1]
	agent := c.agent(t, b, "dev1")
	console := c.console(t, a, "dev1", "s_1")
	recvType(t, console, wire.TypeWelcome)
	require.Eventually(t, func() bool { return agentStatus(t, console) }, 5*time.Second, time.Millisecond)
	require.NoError(t, console.Send(wire.TypeJoin, "s_1", wire.Join{Codecs: []string{"video/VP8"}}))
	recvType(t, agent, wire.TypeSessionStart)

	srv.Kill()
	// The offer is lost with Redis; what matters is that nobody waits for it forever.
	killed := time.Now()
	_ = agent.Send(wire.TypeOffer, "s_1", wire.SDP{SDP: testSDP()})
	console.closedWithin(t, closeBound)
	agent.closedWithin(t, closeBound)
	t.Logf("both signaling connections closed %s after Redis died", time.Since(killed).Round(time.Millisecond))

	srv.Start(t)
	// Reconnecting peers retry until the relay works again, as the real ones do.
	var agent2, console2 *peer
	require.Eventually(t, func() bool {
		agent2 = c.agent(t, b, "dev1")
		console2 = c.console(t, a, "dev1", "s_1")
		if recvEnv(t, console2).Type != wire.TypeWelcome {
			return false
		}
		select {
		case <-console2.Done():
			return false
		case <-agent2.Done():
			return false
		default:
		}
		return agentStatus(t, console2)
	}, 10*time.Second, 200*time.Millisecond)
	negotiate(t, console2, agent2, "s_1")
}

// closeBound is how long a relay may take to close a connection whose subscriptions the bus
// cut: peerConn.close expires the read deadline, so it takes milliseconds; the bound leaves
// room for a loaded machine.
const closeBound = 5 * time.Second

// testSDP is a minimal session description with one DTLS fingerprint.
func testSDP() string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	fmt.Fprintf(&b, "a=fingerprint:sha-256 %s\r\n", strings.TrimSuffix(strings.Repeat("AB:", 32), ":"))
	b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n")
	return b.String()
}
