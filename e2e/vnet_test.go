package e2e

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/turn"
)

// NAT behaviours (RFC 4787).
var (
	fullCone  = &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
	portRestr = &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
	symmetric = &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
)

const (
	turnWANIP    = "5.0.0.10"
	agentLANIP   = "10.1.0.2"
	agentWANIP   = "5.0.0.1"
	consoleLANIP = "10.2.0.2"
	consoleWANIP = "5.0.0.2"
)

// vnetWorld is a virtual internet: a WAN with the relay's TURN server, the agent behind one
// NAT, the console behind another. Signaling still runs on real loopback: only the media path
// (ICE, DTLS, SCTP, RTP) crosses the virtual network, which is what NATs affect.
type vnetWorld struct {
	wan               *vnet.Router
	agentNet, consNet *vnet.Net
	turnNet           *vnet.Net
}

func newVnetWorld(t *testing.T, agentNAT, consoleNAT *vnet.NATType, loss float64) *vnetWorld {
	t.Helper()
	return newLimitedVnetWorld(t, agentNAT, consoleNAT, loss, 0)
}

// newLimitedVnetWorld is newVnetWorld with the console's downlink capped at downlinkBps by a
// token bucket with half a second of queue, as a slow last mile is.
func newLimitedVnetWorld(t *testing.T, agentNAT, consoleNAT *vnet.NATType, loss float64, downlinkBps int) *vnetWorld {
	t.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "5.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	require.NoError(t, err)
	if loss > 0 {
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: the same packets drop every run
		wan.AddChunkFilter(func(vnet.Chunk) bool {
			mu.Lock()
			defer mu.Unlock()
			return rng.Float64() >= loss
		})
	}
	lan := func(cidr, wanIP, hostIP string, nat *vnet.NATType, rate int) *vnet.Net {
		r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: cidr, StaticIPs: []string{wanIP}, NATType: nat, LoggerFactory: logging.NewDefaultLoggerFactory()})
		require.NoError(t, err)
		require.NoError(t, wan.AddRouter(r))
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{hostIP}})
		require.NoError(t, err)
		if rate <= 0 {
			require.NoError(t, r.AddNet(n))
			return n
		}
		q, err := vnet.NewQueue(n, vnet.NewTBFQueue(rate, 8*1500, int64(rate/8/2)))
		require.NoError(t, err)
		t.Cleanup(func() { _ = q.Close() })
		require.NoError(t, r.AddNet(q))
		return n
	}
	w := &vnetWorld{wan: wan}
	w.agentNet = lan("10.1.0.0/24", agentWANIP, agentLANIP, agentNAT, 0)
	w.consNet = lan("10.2.0.0/24", consoleWANIP, consoleLANIP, consoleNAT, downlinkBps)
	w.turnNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{turnWANIP}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(w.turnNet))
	require.NoError(t, wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })
	return w
}

// TestNATTraversal: the agent and a console behind different NATs reach each other directly
// when the NATs allow it and through the embedded TURN server when they do not; with 30% loss
// on the WAN they still connect, and input still arrives.
func TestNATTraversal(t *testing.T) {
	cases := []struct {
		name             string
		agentNAT, conNAT *vnet.NATType
		loss             float64
		wantRelay        bool
	}{
		{"full cone both sides: direct", fullCone, fullCone, 0, false},
		{"full cone to symmetric: direct", fullCone, symmetric, 0, false},
		// A port-restricted NAT only accepts from the exact address it sent to, and a symmetric
		// NAT gives every destination a new port: no direct path exists, TURN carries it.
		{"port restricted to symmetric: via TURN", portRestr, symmetric, 0, true},
		{"symmetric both sides: via TURN", symmetric, symmetric, 0, true},
		{"full cone with 30% loss: connects directly", fullCone, fullCone, 0.3, false},
		// Relayed packets cross the lossy WAN twice each way: 16% per crossing is ~30% end to
		// end. It connects in seconds because DTLS retransmits lost flights after 100 ms, not
		// pion's default 1 s (with which it timed out).
		{"symmetric both sides with ~30% end-to-end loss: via TURN", symmetric, symmetric, 0.16, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newVnetWorld(t, tc.agentNAT, tc.conNAT, tc.loss)
			log := testLogger()
			r, err := relay.New(relay.Config{
				Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: log,
				TURN: &turn.Config{
					ListenAddr: turnWANIP + ":3478",
					PublicIP:   netip.MustParseAddr(turnWANIP),
					Secrets:    [][]byte{[]byte("vnet-test-secret-0123456789abcdef")},
					// The virtual WAN is documentation-like space the default policy would refuse.
					AllowPeers: []netip.Prefix{netip.MustParsePrefix("5.0.0.0/24")},
					Net:        w.turnNet,
				},
			})
			require.NoError(t, err)
			dev, err := testpattern.New(testpattern.Config{Width: 640, Height: 360, FPS: 15})
			require.NoError(t, err)
			tok, err := relay.AgentToken(r.Issuer(), "dev1", time.Hour)
			require.NoError(t, err)
			a, err := agent.New(agent.Config{
				Server: r.URL(), Token: tok, Source: dev.DeviceSource(), SourceKind: "testpattern",
				NewEncoder: encoders.New, Encoder: media.EncoderConfig{FPS: 15},
				WebRTC: agent.WebRTCConfig{Net: w.agentNet}, Logger: log,
			})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = r.Serve(ctx) })
			wg.Go(func() { _ = a.Run(ctx) })
			t.Cleanup(func() { cancel(); wg.Wait(); dev.Close() })

			st := &stack{relay: r, url: r.URL()}
			st.waitAgent(t)
			wctx, wcancel := context.WithTimeout(ctx, 100*time.Second)
			defer wcancel()
			c := openLikeThePage(t, wctx, r, testconsole.Config{Relay: r.URL(), Net: w.consNet}, 2)
			local, remote, ok := c.Path()
			require.True(t, ok, "a selected candidate pair")
			relayed := local == "relay" || remote == "relay"
			assert.Equal(t, tc.wantRelay, relayed, "path %s → %s", local, remote)

			before := dev.KeyDownCount()
			down, err := hid.Encode(hid.KeyMsg{Usage: 0x04, Down: true})
			require.NoError(t, err)
			up, err := hid.Encode(hid.KeyMsg{Usage: 0x04, Down: false})
			require.NoError(t, err)
			require.NoError(t, c.SendHID(down))
			require.NoError(t, c.SendHID(up))
			require.Eventually(t, func() bool { return dev.KeyDownCount() == before+1 }, 20*time.Second, 10*time.Millisecond)
		})
	}
}

// openLikeThePage opens a console on a fresh console link and waits until it is connected,
// shows video and has its data channels. When the peer connection fails first — on a path
// losing 30% of its packets, ICE can lose consent, or SCTP give up its INIT after 8
// retransmits, more often when the machine is busy — the agent ends the session and the
// console page opens a new one by itself (session.js #retry); so does this, at most attempts
// times in all, logging why. Whatever path the console ends up on is the test's to check.
func openLikeThePage(t *testing.T, ctx context.Context, r *relay.Relay, cfg testconsole.Config, attempts int) *testconsole.Console {
	t.Helper()
	var last error
	for i := 1; i <= attempts; i++ {
		link, err := relay.ConsoleLink(r.Issuer(), r.URL(), "dev1", "vnet")
		require.NoError(t, err)
		cfg.Code, err = testconsole.CodeFromLink(link)
		require.NoError(t, err)
		// Each attempt has its own deadline: a data channel whose SCTP association gave up
		// never opens, and waiting for it must not use up the next attempt's time.
		actx, cancel := context.WithTimeout(ctx, 40*time.Second)
		c, err := testconsole.Open(actx, cfg)
		require.NoError(t, err)
		last = waitUsable(actx, c)
		cancel()
		if last == nil {
			t.Cleanup(c.Close)
			return c
		}
		c.Close()
		t.Logf("console attempt %d of %d failed (%v); opening a new one, as the page does", i, attempts, last)
	}
	require.NoError(t, last, "the console never connected in %d attempts", attempts)
	return nil
}

// waitUsable waits for the console's connection, first video frame and data channels.
func waitUsable(ctx context.Context, c *testconsole.Console) error {
	if err := c.WaitConnected(ctx); err != nil {
		return err
	}
	if _, err := c.WaitVideo(ctx); err != nil {
		return err
	}
	return c.WaitChannels(ctx)
}
