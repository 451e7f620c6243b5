package signaling

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// fakeViewers records the relayed viewers signaling starts and what their consoles say.
type fakeViewers struct {
	mu      sync.Mutex
	started map[string]*fakeViewer
	order   []string
}

type fakeViewer struct {
	v          RelayedViewer
	send       ViewerSend
	mu         sync.Mutex
	answers    []string
	candidates []wire.Candidate
	closed     bool
}

func (f *fakeViewers) StartViewer(_ context.Context, v RelayedViewer, send ViewerSend) (ViewerPeer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &fakeViewer{v: v, send: send}
	if f.started == nil {
		f.started = make(map[string]*fakeViewer)
	}
	f.started[v.SID] = p
	f.order = append(f.order, v.SID)
	return p, nil
}

// Decodes: the fake forwards H.264 only.
func (f *fakeViewers) Decodes(codecs []string) bool { return slices.Contains(codecs, "video/H264") }

func (f *fakeViewers) get(sid string) *fakeViewer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started[sid]
}

func (f *fakeViewers) sids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order...)
}

func (p *fakeViewer) Answer(sdp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers = append(p.answers, sdp)
	return nil
}

func (p *fakeViewer) Candidate(c wire.Candidate) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.candidates = append(p.candidates, c)
	return nil
}

func (p *fakeViewer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

func (p *fakeViewer) snapshot() (answers int, candidates int, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.answers), len(p.candidates), p.closed
}

// joinAs connects a console of dev1 as sid and joins; it returns the console and the
// session-start the agent got for it.
func joinAs(t *testing.T, r *testRelay, agent *sigclient.Client, sid string) (*sigclient.Client, wire.SessionStart) {
	t.Helper()
	return joinWith(t, r, agent, sid, "video/H264")
}

// joinWith is joinAs for a console decoding codecs.
func joinWith(t *testing.T, r *testRelay, agent *sigclient.Client, sid string, codecs ...string) (*sigclient.Client, wire.SessionStart) {
	t.Helper()
	c, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", sid), r.origin())
	require.NoError(t, err)
	waitOnline(t, c)
	require.NoError(t, c.Send(wire.TypeJoin, sid, wire.Join{Codecs: codecs, ForceRelay: true}))
	var ss wire.SessionStart
	require.NoError(t, wire.DecodeData(recvFor(t, agent, wire.TypeSessionStart, sid), &ss))
	return c, ss
}

// TestRelayedViewerJoins: which consoles' video the relay forwards, by the P2P viewer limit
// of the device on this node; without a VideoRelay, session-start says nothing of video (an
// older agent reads the same bytes).
func TestRelayedViewerJoins(t *testing.T) {
	tests := []struct {
		name        string
		relay       bool
		p2p         int
		wantVideo   []*bool // per console joining, in order
		wantRelayed []string
	}{
		{name: "no fan-out", relay: false, wantVideo: []*bool{nil, nil, nil}},
		{name: "one peer to peer", relay: true, p2p: 1, wantVideo: []*bool{wire.Bool(true), wire.Bool(false), wire.Bool(false)}, wantRelayed: []string{"s_2", "s_3"}},
		{name: "two peer to peer", relay: true, p2p: 2, wantVideo: []*bool{wire.Bool(true), wire.Bool(true), wire.Bool(false)}, wantRelayed: []string{"s_3"}},
		{name: "all relayed", relay: true, p2p: 0, wantVideo: []*bool{wire.Bool(false), wire.Bool(false), wire.Bool(false)}, wantRelayed: []string{"s_1", "s_2", "s_3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeViewers{}
			r := startRelayWith(t, func(c *Config) {
				if tt.relay {
					c.Viewers, c.P2PViewers = fake, tt.p2p
				}
			})
			agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
			require.NoError(t, err)
			for i, want := range tt.wantVideo {
				sid := []string{"s_1", "s_2", "s_3"}[i]
				_, ss := joinAs(t, r, agent, sid)
				assert.Equal(t, want, ss.Video, "%s's session-start", sid)
				assert.False(t, ss.Uplink, "a console's session is never an uplink")
			}
			assert.Equal(t, tt.wantRelayed, fake.sids())
			for _, sid := range tt.wantRelayed {
				v := fake.get(sid).v
				assert.Equal(t, RelayedViewer{SID: sid, Device: "dev1", ForceRelay: true}, v)
			}
		})
	}
}

// TestRelayedViewerNeedsItsCodecs: a console that cannot decode what the relay forwards gets
// its video from the agent, even past the limit, and counts towards it.
func TestRelayedViewerNeedsItsCodecs(t *testing.T) {
	fake := &fakeViewers{}
	r := startRelayWith(t, func(c *Config) { c.Viewers, c.P2PViewers = fake, 1 })
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	_, ss := joinWith(t, r, agent, "s_1", "video/VP8")
	assert.Equal(t, wire.Bool(true), ss.Video)
	_, ss = joinWith(t, r, agent, "s_2", "video/VP8")
	assert.Equal(t, wire.Bool(true), ss.Video, "past the limit, but the relay's stream is not one it decodes")
	_, ss = joinWith(t, r, agent, "s_3", "video/VP8", "video/H264")
	assert.Equal(t, wire.Bool(false), ss.Video)
	assert.Equal(t, []string{"s_3"}, fake.sids())
}

// TestRelayedViewerRouting: the relay's video-offer and candidates reach the console of their
// session only; the console's video-answer and video-candidate reach the relay's viewer and
// never the agent; a console cannot send video-offer, and what it says of video the relay does
// not send it goes nowhere; the viewer closes with the console's connection.
func TestRelayedViewerRouting(t *testing.T) {
	fake := &fakeViewers{}
	r := startRelayWith(t, func(c *Config) { c.Viewers, c.P2PViewers = fake, 1 })
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	first, _ := joinAs(t, r, agent, "s_1")
	second, _ := joinAs(t, r, agent, "s_2")
	v := fake.get("s_2")
	require.NotNil(t, v)

	ctx := context.Background()
	require.NoError(t, v.send(ctx, wire.TypeVideoOffer, wire.SDP{SDP: testSDP(1)}))
	offer := recvType(t, second, wire.TypeVideoOffer)
	assert.Equal(t, "s_2", offer.SID)
	mid := "0"
	require.NoError(t, v.send(ctx, wire.TypeVideoCandidate, wire.Candidate{Candidate: "candidate:1 1 udp 1 198.18.0.1 5000 typ host", SDPMid: &mid}))
	recvType(t, second, wire.TypeVideoCandidate)

	require.NoError(t, second.Send(wire.TypeVideoAnswer, "s_2", wire.SDP{SDP: testSDP(1)}))
	require.NoError(t, second.Send(wire.TypeVideoCandidate, "s_2", wire.Candidate{Candidate: "candidate:2 1 udp 1 198.18.0.2 5000 typ host", SDPMid: &mid}))
	require.NoError(t, second.Send(wire.TypeVideoCandidate, "s_2", wire.Candidate{}))
	require.Eventually(t, func() bool {
		a, c, _ := v.snapshot()
		return a == 1 && c == 2
	}, 5*time.Second, 5*time.Millisecond, "the console's answer and candidates reach the relay's viewer")

	// An answer with two fingerprints is refused before the viewer sees it.
	require.NoError(t, second.Send(wire.TypeVideoAnswer, "s_2", wire.SDP{SDP: testSDP(2)}))
	e := recvType(t, second, wire.TypeError)
	var em wire.ErrorMessage
	require.NoError(t, wire.DecodeData(e, &em))
	assert.Equal(t, wire.CodeBadMessage, em.Code)

	// A console offering video itself is refused; nothing reaches the agent or the viewer.
	require.NoError(t, second.Send(wire.TypeVideoOffer, "s_2", wire.SDP{SDP: testSDP(1)}))
	require.NoError(t, wire.DecodeData(recvType(t, second, wire.TypeError), &em))
	assert.Equal(t, wire.CodeBadMessage, em.Code)
	// The first console's video comes from the agent: the relay has nothing to negotiate and
	// drops it (a late message of a replaced video connection is no fault of the page's).
	require.NoError(t, first.Send(wire.TypeVideoAnswer, "s_1", wire.SDP{SDP: testSDP(1)}))
	expectNothing(t, first, 300*time.Millisecond)
	expectNothing(t, agent, 300*time.Millisecond)
	a, _, closed := v.snapshot()
	assert.Equal(t, 1, a, "only the good answer reached the viewer")
	assert.False(t, closed)

	second.Close()
	require.Eventually(t, func() bool { _, _, closed := v.snapshot(); return closed }, 5*time.Second, 5*time.Millisecond,
		"the relayed viewer closes with its console's connection")
}

// TestRelayedViewerBudget: the relayed video's answers and candidates count against the
// console's negotiation budget like the agent's.
func TestRelayedViewerBudget(t *testing.T) {
	fake := &fakeViewers{}
	r := startRelayWith(t, func(c *Config) {
		c.Viewers, c.P2PViewers = fake, 0
		c.ConsoleBudget = ConsoleBudget{Answers: 2}
	})
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	con, _ := joinAs(t, r, agent, "s_1")
	for range 3 {
		require.NoError(t, con.Send(wire.TypeVideoAnswer, "s_1", wire.SDP{SDP: testSDP(1)}))
	}
	var em wire.ErrorMessage
	require.NoError(t, wire.DecodeData(recvType(t, con, wire.TypeError), &em))
	assert.Equal(t, CodeRateLimited, em.Code)
	a, _, _ := fake.get("s_1").snapshot()
	assert.Equal(t, 2, a, "answers past the budget never reach the viewer")
}
