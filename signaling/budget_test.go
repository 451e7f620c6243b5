package signaling

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// rawConsole dials a console WebSocket whose writes go straight to the socket (a hostile
// console: no outbox, no pacing).
func rawConsole(t *testing.T, r *testRelay, device, sid string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Origin", r.origin())
	h.Set("Authorization", "Bearer "+r.consoleToken(t, device, sid))
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, r.url+"/ws/console", h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	return ws
}

// recvFor reads c until a message of type want for session sid arrives, skipping the rest.
func recvFor(t *testing.T, c *sigclient.Client, want wire.Type, sid string) wire.Envelope {
	t.Helper()
	for {
		e, err := recv(t, c)
		require.NoError(t, err, "waiting for %s of %s", want, sid)
		if e.Type == want && e.SID == sid {
			return e
		}
	}
}

// pump reads c's messages into a channel until the connection closes.
func pump(c *sigclient.Client) <-chan wire.Envelope {
	ch := make(chan wire.Envelope, 64)
	go func() {
		defer close(ch)
		for {
			e, err := c.Recv()
			if err != nil {
				return
			}
			ch <- e
		}
	}()
	return ch
}

// await reports whether a message of type want for sid arrives on ch within d.
func await(ch <-chan wire.Envelope, want wire.Type, sid string, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return false
			}
			if e.Type == want && e.SID == sid {
				return true
			}
		case <-t.C:
			return false
		}
	}
}

// flood sends n valid candidates for sid as fast as the socket takes them, each padded to
// about size bytes; it stops when the relay closes the connection and returns how many went.
func flood(ws *websocket.Conn, sid string, n, size int) int {
	mid := "0"
	pad := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		msg, err := wire.Encode(wire.TypeCandidate, sid, wire.Candidate{Candidate: "candidate:1 1 udp 2122260223 198.18.0.1 5000 typ host generation 0 ufrag " + pad, SDPMid: &mid})
		if err != nil {
			panic(err)
		}
		_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if ws.WriteMessage(websocket.TextMessage, msg) != nil {
			return i
		}
	}
	return n
}

// closedWith reads ws until the relay closes it and returns the error codes it sent.
func closedWith(t *testing.T, ws *websocket.Conn) []string {
	t.Helper()
	var codes []string
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, raw, err := ws.ReadMessage()
		if err != nil {
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			return codes
		}
		if e, err := wire.Decode(raw); err == nil && e.Type == wire.TypeError {
			var em wire.ErrorMessage
			require.NoError(t, wire.DecodeData(e, &em))
			codes = append(codes, em.Code)
		}
	}
}

// TestConsoleFloodLeavesAgentAlone is SECURITY.md item 18 (kvmrelay issue 12, item 3): one
// console floods its session with valid candidates while the agent reads slowly. The flooding
// console is throttled (closed with `rate-limited`, or its messages dropped before the agent),
// the agent stays connected, and a second console of the same device still negotiates.
func TestConsoleFloodLeavesAgentAlone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget ConsoleBudget
		// refused are the budgets one of which must have refused messages.
		refused []string
	}{
		{"default budgets close the flooder", ConsoleBudget{}, []string{budgetRate, budgetCandidates}},
		// Budgets so loose that the flood passes them: the agent's outbox guard alone must
		// keep the agent connected (many consoles together could do the same).
		{"agent outbox guard without budgets", ConsoleBudget{Rate: 1e9, Burst: 1 << 30, Candidates: 1 << 30}, []string{budgetAgentOutbox}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelayWith(t, func(c *Config) { c.ConsoleBudget = tc.budget })
			agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
			require.NoError(t, err)
			quiet, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_quiet"), r.origin())
			require.NoError(t, err)
			recvType(t, quiet, wire.TypeWelcome)
			waitOnline(t, quiet)

			noisy := rawConsole(t, r, "dev1", "s_noisy")
			join, err := wire.Encode(wire.TypeJoin, "s_noisy", wire.Join{Codecs: []string{"video/H264"}})
			require.NoError(t, err)
			require.NoError(t, noisy.WriteMessage(websocket.TextMessage, join))
			// The agent is slow: it reads nothing while the console sends 3,000 candidates of
			// 4 KiB (12 MiB, more than socket buffers hold).
			sent := flood(noisy, "s_noisy", 3000, 4096)
			t.Logf("the noisy console got %d candidates onto the socket", sent)

			// The agent catches up: it is still connected, and the quiet console of the same
			// device negotiates through it (joining again, as the console does after its
			// negotiation timeout, while a flood still passing the relay keeps the agent busy).
			fromAgent := pump(agent)
			joined := false
			for attempt := 0; attempt < 20 && !joined; attempt++ {
				require.NoError(t, quiet.Send(wire.TypeJoin, "s_quiet", wire.Join{Codecs: []string{"video/H264"}}))
				joined = await(fromAgent, wire.TypeSessionStart, "s_quiet", time.Second)
			}
			require.True(t, joined, "the quiet console's join reaches the agent")
			require.NoError(t, agent.Send(wire.TypeOffer, "s_quiet", wire.SDP{SDP: testSDP(1)}))
			recvFor(t, quiet, wire.TypeOffer, "s_quiet")
			require.NoError(t, agent.Err(), "the agent's connection stays open")
			online, err := r.srv.cfg.Registry.AgentOnline(context.Background(), "dev1")
			require.NoError(t, err)
			assert.True(t, online)

			refused := 0.0
			for _, b := range tc.refused {
				refused += testutil.ToFloat64(r.srv.metrics.BudgetRefused.WithLabelValues(b))
			}
			assert.Positive(t, refused, "refusals are counted in /metrics")
			if tc.refused[0] != budgetAgentOutbox {
				assert.Contains(t, closedWith(t, noisy), CodeRateLimited, "the noisy console is told why and closed")
			}
		})
	}
}

// TestConsoleBudgets checks each budget on its own: the message over it is refused with
// `rate-limited` and the console closed, and nothing over it reaches the agent.
func TestConsoleBudgets(t *testing.T) {
	mid := "0"
	cand := wire.Candidate{Candidate: "candidate:1 1 udp 1 198.18.0.1 5000 typ host", SDPMid: &mid}
	loose := ConsoleBudget{Rate: 1e9, Burst: 1 << 30, Candidates: 1 << 30, Answers: 1 << 30, JoinRate: 1e9, JoinBurst: 1 << 30}
	for _, tc := range []struct {
		name   string
		adjust func(*ConsoleBudget)
		// send is the allowed sequence; the next message of type over is refused.
		allowed int
		over    wire.Type
		budget  string
	}{
		{"messages per second", func(b *ConsoleBudget) { b.Rate, b.Burst = 0.001, 5 }, 5, wire.TypeCandidate, budgetRate},
		{"candidates per negotiation", func(b *ConsoleBudget) { b.Candidates = 4 }, 4, wire.TypeCandidate, budgetCandidates},
		{"answers per negotiation", func(b *ConsoleBudget) { b.Answers = 2 }, 2, wire.TypeAnswer, budgetAnswers},
		{"joins", func(b *ConsoleBudget) { b.JoinRate, b.JoinBurst = 0.001, 3 }, 3, wire.TypeJoin, budgetJoins},
		{"power actions (out-of-band management)", func(*ConsoleBudget) {}, managementBurst, wire.TypePowerAction, budgetManagement},
		{"consent codes (out-of-band management)", func(*ConsoleBudget) {}, managementBurst, wire.TypeConsentCode, budgetManagement},
		{"moves of control", func(*ConsoleBudget) {}, controlBurst, wire.TypeControl, budgetControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := loose
			tc.adjust(&b)
			r := startRelayWith(t, func(c *Config) { c.ConsoleBudget = b })
			agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
			require.NoError(t, err)
			console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), r.origin())
			require.NoError(t, err)
			recvType(t, console, wire.TypeWelcome)
			waitOnline(t, console)
			message := func(typ wire.Type) any {
				switch typ {
				case wire.TypeJoin:
					return wire.Join{Codecs: []string{"video/H264"}}
				case wire.TypeAnswer:
					return wire.SDP{SDP: testSDP(1)}
				case wire.TypePowerAction:
					return wire.PowerAction{Action: wire.PowerCycle}
				case wire.TypeConsentCode:
					return wire.ConsentCode{Code: "123456"}
				case wire.TypeControl:
					return wire.Control{Action: wire.ControlRequest}
				}
				return cand
			}
			want := map[wire.Type]wire.Type{wire.TypeJoin: wire.TypeSessionStart, wire.TypeAnswer: wire.TypeAnswer, wire.TypeCandidate: wire.TypeCandidate,
				wire.TypePowerAction: wire.TypePowerAction, wire.TypeConsentCode: wire.TypeConsentCode, wire.TypeControl: wire.TypeControl}
			for i := 0; i < tc.allowed; i++ {
				require.NoError(t, console.Send(tc.over, "s_1", message(tc.over)))
				recvFor(t, agent, want[tc.over], "s_1")
			}
			require.NoError(t, console.Send(tc.over, "s_1", message(tc.over)))
			e := recvType(t, console, wire.TypeError)
			var em wire.ErrorMessage
			require.NoError(t, wire.DecodeData(e, &em))
			assert.Equal(t, CodeRateLimited, em.Code)
			_, err = recv(t, console)
			require.Error(t, err, "the console over budget is closed")
			// The agent hears that the console left, and nothing of the refused message.
			bye := recvFor(t, agent, wire.TypeBye, "s_1")
			assert.Equal(t, "s_1", bye.SID)
			assert.InDelta(t, 1, testutil.ToFloat64(r.srv.metrics.BudgetRefused.WithLabelValues(tc.budget)), 0)
			require.NoError(t, agent.Err())
		})
	}
}

// TestBudgetSurvivesReconnect: a console cannot refill its budget by reconnecting.
func TestBudgetSurvivesReconnect(t *testing.T) {
	r := startRelayWith(t, func(c *Config) {
		c.ConsoleBudget = ConsoleBudget{Rate: 1e9, Burst: 1 << 30, JoinRate: 0.001, JoinBurst: 2}
	})
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	codes := make([]string, 0, 3)
	for i := 0; i < 3; i++ {
		console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), r.origin())
		require.NoError(t, err)
		recvType(t, console, wire.TypeWelcome)
		waitOnline(t, console)
		require.NoError(t, console.Send(wire.TypeJoin, "s_1", wire.Join{Codecs: []string{"video/H264"}}))
		code := ""
		if i < 2 {
			recvFor(t, agent, wire.TypeSessionStart, "s_1") // the join went through before the next connection
		} else {
			e := recvType(t, console, wire.TypeError)
			var em wire.ErrorMessage
			require.NoError(t, wire.DecodeData(e, &em))
			code = em.Code
		}
		codes = append(codes, code)
		console.Close()
	}
	assert.Equal(t, []string{"", "", CodeRateLimited}, codes)
}

// An agent report whose text is out of bounds (a control character from a machine's
// management) is dropped; the agent's connection, and the consoles of its device, stay.
func TestAgentReportOutOfBoundsIsDropped(t *testing.T) {
	r := startRelayWith(t, func(*Config) {})
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), r.origin())
	require.NoError(t, err)
	recvType(t, console, wire.TypeWelcome)
	waitOnline(t, console)
	require.NoError(t, agent.Send(wire.TypeConsent, "s_1", wire.Consent{State: wire.ConsentRequired, Error: "wrong \x1b[31mcode"}))
	require.NoError(t, agent.Send(wire.TypePower, "s_1", wire.Power{State: "on", Error: "x\u202ey"}))
	require.NoError(t, agent.Send(wire.TypeConsent, "s_1", wire.Consent{State: wire.ConsentRequired, Error: "wrong code"}))
	got := recvType(t, console, wire.TypeConsent)
	var c wire.Consent
	require.NoError(t, wire.DecodeData(got, &c))
	assert.Equal(t, "wrong code", c.Error, "the clean report arrives, the others were dropped")
	require.NoError(t, agent.Err(), "the agent stays connected")
}
