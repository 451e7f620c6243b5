package sfu

import (
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// vnetWorld is a virtual LAN for in-process peers: the publisher (the agent's side), the
// relay, and viewers, some behind a token-bucket link.
type vnetWorld struct {
	t      *testing.T
	router *vnet.Router
	nextIP int
	ips    map[*vnet.Net]string
}

func newVnetWorld(t *testing.T) *vnetWorld {
	t.Helper()
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	require.NoError(t, err)
	return &vnetWorld{t: t, router: r, nextIP: 1, ips: map[*vnet.Net]string{}}
}

// host adds a host; with downlinkBps > 0 what it receives crosses a token bucket of that
// rate with queue seconds of buffer, as a slow last mile does.
func (w *vnetWorld) host(downlinkBps int, queue float64) *vnet.Net {
	w.t.Helper()
	w.nextIP++
	ip := "10.0.0." + strconv.Itoa(w.nextIP)
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	require.NoError(w.t, err)
	w.ips[n] = ip
	if downlinkBps <= 0 {
		require.NoError(w.t, w.router.AddNet(n))
		return n
	}
	q, err := vnet.NewQueue(n, vnet.NewTBFQueue(downlinkBps, 10*1500, int64(float64(downlinkBps)/8*queue)))
	require.NoError(w.t, err)
	w.t.Cleanup(func() { _ = q.Close() })
	require.NoError(w.t, w.router.AddNet(q))
	return n
}

func (w *vnetWorld) start() {
	w.t.Helper()
	require.NoError(w.t, w.router.Start())
	w.t.Cleanup(func() { _ = w.router.Stop() })
}

// quietLogs keeps pion quiet in tests: on the virtual network its ICE agents fail to join the
// mDNS group and say so at error level.
func quietLogs() logging.LoggerFactory {
	return &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
}

// lose drops fraction of the UDP datagrams sent to host, with a fixed seed so the same ones
// drop every run.
func (w *vnetWorld) lose(host *vnet.Net, fraction float64) {
	w.t.Helper()
	ip := net.ParseIP(w.ips[host])
	require.NotNil(w.t, ip)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(3, 4))
	w.router.AddChunkFilter(func(c vnet.Chunk) bool {
		to, ok := c.DestinationAddr().(*net.UDPAddr)
		if !ok || !to.IP.Equal(ip) {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64() >= fraction
	})
}

// connect runs one offer/answer between two in-process peers, candidates included.
func connect(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(offerer)
	require.NoError(t, offerer.SetLocalDescription(offer))
	<-gathered
	require.NoError(t, answerer.SetRemoteDescription(*offerer.LocalDescription()))
	answer, err := answerer.CreateAnswer(nil)
	require.NoError(t, err)
	gathered = webrtc.GatheringCompletePromise(answerer)
	require.NoError(t, answerer.SetLocalDescription(answer))
	<-gathered
	require.NoError(t, offerer.SetRemoteDescription(*answerer.LocalDescription()))
}
