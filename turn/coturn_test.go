package turn

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// Interop with a TURN client no one here wrote: coturn's turnutils_uclient, in REST-secret
// mode (-W), relaying through the embedded server to a UDP echo on 127.0.0.1.

const (
	ucMessages = 20  // per allocation
	ucLength   = 120 // bytes per message
)

// ucResult is what turnutils_uclient reports at the end of a run.
type ucResult struct {
	sent, received, lost int
	out                  string
}

var (
	ucTotals = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)
	ucLost   = regexp.MustCompile(`Total lost packets (\d+)`)
)

// runUclient runs turnutils_uclient against port on 127.0.0.1 with the test secret. It
// returns the last totals it printed and whether it exited 0.
func runUclient(t *testing.T, port int, args ...string) (ucResult, error) {
	t.Helper()
	bin := testenv.LookPath(t, "turnutils_uclient", "coturn")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	args = append(append([]string{}, args...),
		"-W", string(testSecret), "-u", "uclient",
		"-n", strconv.Itoa(ucMessages), "-l", strconv.Itoa(ucLength),
		"-p", strconv.Itoa(port), "127.0.0.1")
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	r := ucResult{out: string(out)}
	if m := ucTotals.FindAllStringSubmatch(r.out, -1); len(m) > 0 {
		last := m[len(m)-1]
		r.sent, _ = strconv.Atoi(last[1])
		r.received, _ = strconv.Atoi(last[2])
	}
	if m := ucLost.FindStringSubmatch(r.out); m != nil {
		r.lost, _ = strconv.Atoi(m[1])
	}
	return r, err
}

// startUDPEchoPair starts echoes on two consecutive ports of 127.0.0.1: turnutils_uclient
// sends RTP to the peer port and RTCP to the next one.
func startUDPEchoPair(t *testing.T) (rtp, rtcp *udpEcho) {
	t.Helper()
	for range 50 {
		rtp = startUDPEcho(t)
		next := netip.AddrPortFrom(rtp.addr().Addr(), rtp.addr().Port()+1)
		if rtp.addr().Port()%2 == 1 || next.Port() == 0 {
			continue
		}
		if rtcp, err := listenUDPEcho(t, next); err == nil {
			return rtp, rtcp
		}
	}
	t.Fatal("no two consecutive free UDP ports on 127.0.0.1")
	return nil, nil
}

// relayed sums the relay counters of the server over both transports.
func (ts *testServer) relayedBytes(t *testing.T, dir string) float64 {
	return counter(t, ts.metrics.bytes.WithLabelValues(transportUDP, dir)) +
		counter(t, ts.metrics.bytes.WithLabelValues(transportTCP, dir))
}

// TestCoturnClientRelays: turnutils_uclient relays through the embedded TURN (four UDP
// sockets, TCP, TLS) to 127.0.0.1, allowed by AllowPeers 127.0.0.0/8, in each of its modes:
// RTP+RTCP allocation pairs (EVEN-PORT, RESERVATION-TOKEN), Send indications, over TCP, over
// TLS, client to client through two allocations, and over RFC 6062 TCP relays. It reports
// every message back and none lost, and the server's counters agree byte for byte.
func TestCoturnClientRelays(t *testing.T) {
	testenv.LookPath(t, "turnutils_uclient", "coturn")
	cert := newTestCert(t)
	echo, rtcpEcho := startUDPEchoPair(t)
	ts := startTLSServer(t, cert, func(c *Config) { c.UDPSockets, c.QuotaPerUser = 4, 100 })
	port := ts.UDPAddr().(*net.UDPAddr).Port
	tlsPort := ts.TLSAddr().(*net.TCPAddr).Port
	peer := []string{"-e", "127.0.0.1", "-r", strconv.Itoa(int(echo.addr().Port()))}

	for _, tc := range []struct {
		name     string
		port     int
		args     []string
		messages int  // sent by uclient
		toEcho   bool // the messages go to the echo (else from one allocation to another)
	}{
		{"udp rtp+rtcp", port, peer, 2 * ucMessages, true},
		{"udp no rtcp", port, append([]string{"-c"}, peer...), ucMessages, true},
		{"udp send indications", port, append([]string{"-c", "-s"}, peer...), ucMessages, true},
		{"tcp", port, append([]string{"-c", "-t"}, peer...), ucMessages, true},
		{"tls", tlsPort, append([]string{"-c", "-t", "-S"}, peer...), ucMessages, true},
		{"client to client", port, []string{"-c", "-y"}, 2 * ucMessages, false},
		{"rfc6062 tcp relay", port, []string{"-T"}, 2 * ucMessages, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			echoed := echo.count() + rtcpEcho.count()
			to, from := ts.relayedBytes(t, dirToPeer), ts.relayedBytes(t, dirFromPeer)
			r, err := runUclient(t, tc.port, tc.args...)
			require.NoError(t, err, "turnutils_uclient %v:\n%s", tc.args, r.out)
			assert.Equal(t, tc.messages, r.sent, r.out)
			assert.Equal(t, r.sent, r.received, r.out)
			assert.Zero(t, r.lost, r.out)

			want := float64(tc.messages * ucLength)
			assert.Eventually(t, func() bool {
				return ts.relayedBytes(t, dirToPeer)-to == want && ts.relayedBytes(t, dirFromPeer)-from == want
			}, 5*time.Second, time.Millisecond, "relayed bytes: to peers %v, from peers %v, want %v each",
				ts.relayedBytes(t, dirToPeer)-to, ts.relayedBytes(t, dirFromPeer)-from, want)
			if tc.toEcho {
				assert.Equal(t, tc.messages, echo.count()+rtcpEcho.count()-echoed, "the echoes heard every message")
			} else {
				assert.Equal(t, echoed, echo.count()+rtcpEcho.count(), "client to client: the echoes heard nothing")
			}
		})
	}
	assert.Empty(t, ts.egress.nonLoopback())
	assert.Zero(t, ts.refusals(t, refusedPolicy)+ts.refusals(t, refusedAuth))
}

// TestCoturnClientRefused: without AllowPeers, loopback is a refused peer: turnutils_uclient
// gets nothing through to the echo or to another allocation, and the server counts the
// refusals and relays nothing.
func TestCoturnClientRefused(t *testing.T) {
	testenv.LookPath(t, "turnutils_uclient", "coturn")
	echo := startUDPEcho(t)
	ts := startServer(t, func(c *Config) { c.UDPSockets = 4 })
	port := ts.UDPAddr().(*net.UDPAddr).Port
	peer := []string{"-e", "127.0.0.1", "-r", strconv.Itoa(int(echo.addr().Port()))}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"udp", append([]string{"-c"}, peer...)},
		{"tcp", append([]string{"-c", "-t"}, peer...)},
		{"client to client", []string{"-c", "-y"}},
		{"rfc6062 tcp relay", []string{"-T"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusals := ts.refusals(t, refusedPolicy)
			r, _ := runUclient(t, port, tc.args...) // it may give up (exit 255) or count losses
			assert.Zero(t, r.received, r.out)
			assert.Greater(t, ts.refusals(t, refusedPolicy), refusals, "refusals counted")
		})
	}
	assert.Zero(t, echo.count(), "nothing reached the echo")
	assert.Zero(t, ts.relayedBytes(t, dirToPeer))
	assert.Zero(t, ts.relayedBytes(t, dirFromPeer))
	assert.Empty(t, ts.egress.all(), "no relay socket was asked to send")
}
