package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/relay"
)

// Descriptor limit of the relay under test: low enough that the flood goes far past it.
const exhaustionNoFile = 256

var turnTCPLine = regexp.MustCompile(`turn: listening.* tcp=(\S+)`)

// TestDescriptorExhaustion is SECURITY.md item 16: a relay with a low descriptor limit, its
// agent connected, is flooded with idle TCP connections from several addresses, to HTTP and to
// TURN over TCP, far past its limit. It keeps running; /healthz answers, a user signs in, and a
// console connects to the device through the agent that was connected before the flood; the
// refusals are counted in /metrics. (Before the connection guard the process exited on the
// first "accept4: too many open files".)
func TestDescriptorExhaustion(t *testing.T) {
	prlimit := testenv.LookPath(t, "prlimit", "util-linux")
	bin := buildRelay(t)
	data := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(data, 0o700))
	keys, err := auth.LoadOrCreateKeyring(data)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: relay.IssuerName})
	require.NoError(t, err)

	const org, email, password = "acme", "ops@acme.example", "correct horse battery staple"
	create := exec.Command(bin, "admin", "create", "--org", "Acme", "--slug", org, "--email", email, "--password-stdin", "--data-dir", data)
	create.Env = nodeEnv()
	create.Stdin = strings.NewReader(password + "\n")
	out, err := create.CombinedOutput()
	require.NoError(t, err, "kvmrelay admin create: %s", out)

	args := []string{prlimit, fmt.Sprintf("--nofile=%d:%d", exhaustionNoFile, exhaustionNoFile), "--",
		bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--log-level", "info",
		"--turn-listen", "127.0.0.1:0", "--turn-secret", "e2e-exhaustion-turn-secret-0123456789",
		// The flood must stay: a short first-byte deadline would clean it up before it bites.
		"--first-byte-timeout", "5m"}
	if ip := testenv.TestHostIP(); ip != "" {
		args = append(args, "--turn-allow-peers", ip)
	}
	n := startServe(t, "exhausted", args)
	turnTCP := turnAddr(t, n)

	tok, err := relay.AgentToken(iss, "dev1", time.Hour)
	require.NoError(t, err)
	dev, _, stop := startAgent(t, n.url, tok, stackOptions{width: 640, height: 360, fps: 15})
	t.Cleanup(stop)
	require.Eventually(t, func() bool {
		v, err := scrapeMetric(n.url+"/metrics", "kvmrelay_agents_connected")
		return err == nil && v == 1
	}, 15*time.Second, 50*time.Millisecond, "the agent never connected")

	// The flood: idle connections from eight addresses, to HTTP and to TURN over TCP, more
	// than twice the process's descriptors.
	httpAddr := strings.TrimPrefix(n.url, "http://")
	var flood []net.Conn
	t.Cleanup(func() {
		for _, c := range flood {
			_ = c.Close()
		}
	})
	opened := 0
	for i := range 8 {
		from := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+i))}
		d := net.Dialer{LocalAddr: from, Timeout: 2 * time.Second}
		for j := range 70 {
			to := httpAddr
			if j%3 == 0 {
				to = turnTCP
			}
			c, err := d.Dial("tcp", to)
			if err != nil {
				continue // the backlog is full: also a refusal
			}
			opened++
			flood = append(flood, c)
		}
	}

	select {
	case <-n.done:
		t.Fatalf("the relay exited under the flood: %s\n%s", n.cmd.ProcessState, n.logs(t))
	default:
	}
	t.Logf("flood: %d idle connections opened (descriptor limit %d)", opened, exhaustionNoFile)
	require.Greater(t, opened, exhaustionNoFile, "the flood must go past the descriptor limit")

	// Health checks, a login and a console still work, with the flood still open.
	require.Eventually(t, func() bool { return freshHealth(n.url) == http.StatusOK }, 10*time.Second, 100*time.Millisecond,
		"/healthz does not answer under the flood")
	assert.Equal(t, http.StatusOK, login(t, n.url, org, email, password), "a user cannot sign in under the flood")

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	link, err := relay.ConsoleLink(iss, n.url, "dev1", "e2e")
	require.NoError(t, err)
	code, err := testconsole.CodeFromLink(link)
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: n.url, Code: code})
	require.NoError(t, err, "a console cannot connect under the flood")
	t.Cleanup(con.Close)
	require.NoError(t, con.WaitChannels(ctx))
	_, err = con.WaitVideo(ctx)
	require.NoError(t, err)
	pressKeyOn(t, dev, con)

	refused, err := sumMetric(n.url+"/metrics", "kvmrelay_connections_refused_total")
	require.NoError(t, err)
	assert.Positive(t, refused, "refusals are counted")
	t.Logf("refused or evicted: %.0f connections", refused)
}

// turnAddr is the TURN TCP address the relay logged at start.
func turnAddr(t *testing.T, n *relayNode) string {
	t.Helper()
	var addr string
	require.Eventually(t, func() bool {
		if m := turnTCPLine.FindStringSubmatch(n.logs(t)); m != nil {
			addr = m[1]
		}
		return addr != ""
	}, 10*time.Second, 20*time.Millisecond, "the relay did not log its TURN TCP address")
	return addr
}

// freshClient opens a new connection per request, as a load balancer's health check does.
func freshClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

func freshHealth(base string) int {
	resp, err := freshClient().Get(base + "/healthz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

func login(t *testing.T, base, org, email, password string) int {
	t.Helper()
	body, err := json.Marshal(map[string]string{"org": org, "email": email, "password": password})
	require.NoError(t, err)
	resp, err := freshClient().Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Logf("login: %v", err)
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// sumMetric adds up every series of a metric family.
func sumMetric(url, name string) (float64, error) {
	resp, err := freshClient().Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not found", name)
	}
	return sum, sc.Err()
}
