package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/relay"
)

// lossyAgent is an agent (on node B) whose media path, and its consoles' (on node A), crosses
// the lossy virtual WAN; signaling still runs on the real network, through both nodes and Redis.
type lossyAgent struct {
	device  string
	dev     *testpattern.Source
	metrics *agent.Metrics
	consNet *vnet.Net // where this device's consoles sit
}

// lossyWAN is a virtual network that drops 30% of the packets crossing it, in both directions,
// with two agents and a console network for each.
func (c *cluster) lossyWAN(t *testing.T) []*lossyAgent {
	t.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "5.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	require.NoError(t, err)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(14, 30))
	wan.AddChunkFilter(func(vnet.Chunk) bool {
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64() >= 0.30
	})
	host := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(n))
		return n
	}
	agents := []*lossyAgent{{device: "dev2"}, {device: "dev3"}}
	agentNets := make([]*vnet.Net, len(agents))
	for i, a := range agents {
		agentNets[i] = host(fmt.Sprintf("5.0.0.%d", 10+i))
		a.consNet = host(fmt.Sprintf("5.0.0.%d", 20+i))
	}
	require.NoError(t, wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })

	for i, a := range agents {
		tok, err := relay.AgentToken(c.issuer, a.device, time.Hour)
		require.NoError(t, err)
		a.dev, err = testpattern.New(testpattern.Config{Width: 640, Height: 360, FPS: 15})
		require.NoError(t, err)
		a.metrics = agent.NewMetrics(nil)
		ag, err := agent.New(agent.Config{
			Metrics: a.metrics, Server: c.b.url, Token: tok, Source: a.dev.DeviceSource(), SourceKind: "testpattern",
			NewEncoder: encoders.New, Encoder: media.EncoderConfig{FPS: 15},
			WebRTC: agent.WebRTCConfig{Net: agentNets[i]}, Logger: testLogger().With("component", "agent", "device", a.device),
			ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = ag.Run(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait(); _ = a.dev.Close() })
	}
	require.Eventually(t, func() bool {
		n, err := scrapeMetric(c.b.url+"/metrics", "kvmrelay_agents_connected")
		return err == nil && n == 3
	}, 15*time.Second, 50*time.Millisecond, "the lossy agents never connected to node B")
	return agents
}

// lossyConsole opens a console for a's device on node A, on a's console network.
func (c *cluster) lossyConsole(t *testing.T, ctx context.Context, a *lossyAgent, cfg testconsole.Config) *testconsole.Console {
	t.Helper()
	link, err := relay.ConsoleLink(c.issuer, c.a.url, a.device, "e2e")
	require.NoError(t, err)
	code, err := testconsole.CodeFromLink(link)
	require.NoError(t, err)
	cfg.Relay, cfg.Code, cfg.Net = c.a.url, code, a.consNet
	con, err := testconsole.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(con.Close)
	return con
}

// lossyOutage is SECURITY.md item 14 as written: two consoles (for two devices) negotiate at
// once while the media path loses 30% of its packets and Redis goes away in the middle of the
// negotiation. Each session connects (and then works) or its console is told, within the
// session's timeout; no offer, candidate or bye reaches the other session; both agents let go
// of every session; afterwards new sessions over the same lossy path work. Goroutine leaks are
// checked for the whole package by goleak in TestMain.
func (c *cluster) lossyOutage(t *testing.T, agents []*lossyAgent, beforeAnswer bool, down time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	held := make(chan struct{}, len(agents))
	resume := make(chan struct{})
	cons := make([]*testconsole.Console, len(agents))
	for i, a := range agents {
		var cfg testconsole.Config
		if beforeAnswer {
			var once sync.Once
			cfg.MungeAnswer = func(sdp string) string {
				once.Do(func() {
					held <- struct{}{}
					select {
					case <-resume:
					case <-ctx.Done():
					}
				})
				return sdp
			}
		}
		cons[i] = c.lossyConsole(t, ctx, a, cfg)
	}
	if beforeAnswer {
		for range agents {
			select {
			case <-held:
			case <-ctx.Done():
				t.Fatal("an agent's offer never reached its console across the lossy network")
			}
		}
	}
	c.redis.Kill()
	time.Sleep(down)
	c.redis.Start(t)
	close(resume)

	// The agent gives up on a session that has not connected after 30s; 45s covers that and
	// the retransmissions 30% loss costs a handshake.
	var wg sync.WaitGroup
	outcomes := make([]string, len(cons))
	for i, con := range cons {
		wg.Go(func() { outcomes[i] = settle(ctx, con, 45*time.Second) })
	}
	wg.Wait()
	for i, con := range cons {
		t.Logf("%s: %s", agents[i].device, outcomes[i])
		assert.NotEqual(t, "", outcomes[i], "%s: half-open: neither connected nor told anything on an open signaling connection", agents[i].device)
		assert.Empty(t, con.Foreign(), "%s: messages of another session reached this console", agents[i].device)
		if strings.HasPrefix(outcomes[i], "connected") {
			pressKeyOn(t, agents[i].dev, con)
		}
		con.Close()
	}
	for _, a := range agents {
		require.Eventually(t, func() bool { return testutil.ToFloat64(a.metrics.Sessions) == 0 }, 45*time.Second, 50*time.Millisecond,
			"%s: the agent still holds a session nobody uses", a.device)
	}
	c.waitRedisHealthy(t)

	// New sessions over the same lossy path work once Redis is back. As on any path losing 30%
	// of its packets, one session's handshake may give up (see openLikeThePage); the page then
	// opens a new one by itself, and so does this, at most three times.
	for _, a := range agents {
		var last error
		for attempt := 1; attempt <= 3; attempt++ {
			nctx, ncancel := context.WithTimeout(context.Background(), 40*time.Second)
			con := c.lossyConsole(t, nctx, a, testconsole.Config{})
			last = waitUsable(nctx, con)
			if last == nil {
				pressKeyOn(t, a.dev, con)
			}
			assert.Empty(t, con.Foreign())
			con.Close()
			ncancel()
			require.Eventually(t, func() bool { return testutil.ToFloat64(a.metrics.Sessions) == 0 }, 45*time.Second, 50*time.Millisecond)
			if last == nil {
				break
			}
			t.Logf("%s: new session attempt %d of 3 failed (%v); opening another, as the page does", a.device, attempt, last)
		}
		require.NoError(t, last, "%s: no new session worked after the outage", a.device)
	}
}

// settle waits up to limit for con to connect its channels or to be told it will not (an
// error, a bye, or its signaling connection closed). It returns what happened, "" for neither.
func settle(ctx context.Context, con *testconsole.Console, limit time.Duration) string {
	wait, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	opened := make(chan error, 1)
	go func() { opened <- con.WaitChannels(wait) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-opened:
			if err == nil {
				return "connected despite the outage and the loss"
			}
			return told(con)
		case <-tick.C:
			// Told while still negotiating: the console can start over at once. Keep waiting
			// only if the peer connection could still come up (answer sent, agent not gone).
			if len(con.Byes()) > 0 {
				cancel()
				<-opened
				return told(con)
			}
		}
	}
}

func told(con *testconsole.Console) string {
	var out []string
	for _, e := range con.Errors() {
		out = append(out, "error "+e.Code)
	}
	for _, b := range con.Byes() {
		out = append(out, "bye: "+b.Reason)
	}
	select {
	case <-con.Signaling().Done():
		out = append(out, "signaling closed")
	default:
	}
	if len(out) == 0 {
		return ""
	}
	return "failed cleanly, told: " + strings.Join(out, "; ")
}

func pressKeyOn(t *testing.T, dev *testpattern.Source, con *testconsole.Console) {
	t.Helper()
	before := dev.KeyDownCount()
	down, err := hid.Encode(hid.KeyMsg{Usage: 0x04, Down: true})
	require.NoError(t, err)
	up, err := hid.Encode(hid.KeyMsg{Usage: 0x04})
	require.NoError(t, err)
	require.NoError(t, con.SendHID(down))
	require.NoError(t, con.SendHID(up))
	require.Eventually(t, func() bool { return dev.KeyDownCount() == before+1 }, 20*time.Second, 10*time.Millisecond,
		"the key never reached the device across the lossy network")
}
