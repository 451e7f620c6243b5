package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/relay"
)

// cluster is two kvmrelay processes (the real binary, `kvmrelay serve`) sharing one PostgreSQL,
// one Redis, one signing key and one TURN secret, as behind a load balancer; consoles go to node
// A, the agent (in this process) to node B, so every signaling message crosses Redis.
type cluster struct {
	redis  *testenv.Redis
	issuer *auth.Issuer
	a, b   *relayNode
	device *testpattern.Source
	agent  *agent.Metrics
}

// TestMultiNode: a console on one relay node drives an agent connected to another, and Redis
// failing — while idle, or in the middle of a negotiation (SECURITY.md item 14) — never leaves
// a session hanging: it connects, or the console is told, and a new session works afterwards.
func TestMultiNode(t *testing.T) {
	c := startCluster(t)

	t.Run("services refused as TURN peers", func(t *testing.T) {
		// serve resolved --database-url and --redis-url (both on 127.0.0.1) for its TURN policy.
		for _, n := range []*relayNode{c.a, c.b} {
			logs := n.logs(t)
			assert.Regexp(t, `refusing peers at a service host of this relay.*service=database.*addr=127\.0\.0\.1`, logs)
			assert.Regexp(t, `refusing peers at a service host of this relay.*service=redis.*addr=127\.0\.0\.1`, logs)
		}
	})

	t.Run("browser console on A, agent on B", func(t *testing.T) {
		ctx := testenv.Chromium(t)
		openConsole(t, ctx, c.link(t))
		before := c.device.KeyDownCount()
		require.NoError(t, press(ctx, letterA))
		require.Eventually(t, func() bool { return c.device.KeyDownCount() == before+1 }, 5*time.Second, 10*time.Millisecond,
			"the key typed on node A's console never reached the device behind node B")
		waitJS(t, ctx, fmt.Sprintf("window.kvm.stripCount === %d", before+1), 5*time.Second, "the strip to show the key")
		sessions, err := scrapeMetric(c.a.url+"/metrics", "kvmrelay_console_sessions")
		require.NoError(t, err)
		assert.Equal(t, 1.0, sessions, "the console is on node A")
		agents, err := scrapeMetric(c.b.url+"/metrics", "kvmrelay_agents_connected")
		require.NoError(t, err)
		assert.Equal(t, 1.0, agents, "the agent is on node B")
	})
	c.waitNoAgentSession(t)

	t.Run("redis restarts while idle", func(t *testing.T) {
		c.redis.Restart(t) // empty: every key and subscription is gone
		c.waitRedisHealthy(t)
		c.session(t)
	})

	for _, tc := range []struct {
		name string
		// beforeAnswer holds the console's answer until Redis went away (offer received, answer
		// not yet sent); otherwise Redis goes away as soon as the join is sent.
		beforeAnswer bool
		down         time.Duration // how long Redis stays away
	}{
		{"redis restarts right after join", false, 0},
		{"redis restarts before the answer", true, 0},
		{"redis away for 2s before the answer", true, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.negotiateThroughOutage(t, tc.beforeAnswer, tc.down)
			c.waitNoAgentSession(t)
			c.waitRedisHealthy(t)
			c.session(t) // and the next console works
		})
	}

	t.Run("redis outage during negotiation with 30% packet loss", func(t *testing.T) {
		agents := c.lossyWAN(t)
		for _, tc := range []struct {
			name         string
			beforeAnswer bool
			down         time.Duration
		}{
			{"right after join", false, 0},
			{"before the answer, away 2s", true, 2 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) { c.lossyOutage(t, agents, tc.beforeAnswer, tc.down) })
		}
	})
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startFanoutCluster(t, stackOptions{width: 640, height: 360, fps: 15})
}

// buildRelay builds cmd/kvmrelay into a temporary directory.
func buildRelay(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "kvmrelay")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/kvmrelay")
	cmd.Dir = ".." // the module root; tests run in their package's directory
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/kvmrelay: %s", b)
	return out
}

// migrate runs `kvmrelay migrate` as the database owner and returns the application role's URL.
func migrate(t *testing.T, bin, owner string) string {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "app-password")
	require.NoError(t, os.WriteFile(pwFile, []byte("e2e-app-password\n"), 0o600))
	out, err := exec.Command(bin, "migrate", "--database-url", owner, "--app-password-file", pwFile).CombinedOutput()
	require.NoError(t, err, "kvmrelay migrate: %s", out)
	require.Contains(t, string(out), "schema version")
	u, err := url.Parse(owner)
	require.NoError(t, err)
	u.User = url.UserPassword("kvmrelay_app", "e2e-app-password")
	return u.String()
}

// relayNode is one `kvmrelay serve` process.
type relayNode struct {
	url     string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
}

var servingLine = regexp.MustCompile(`kvmrelay: serving on (http://\S+)`)

// startNode starts `kvmrelay serve` with its own data directory holding the shared signing key,
// on PostgreSQL as the application role and on Redis, stopped (SIGTERM) when the test ends.
func startNode(t *testing.T, bin, name string, key []byte, databaseURL, redisURL string, extra ...string) *relayNode {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(data, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(data, auth.SigningKeyFile), key, 0o600))
	args := []string{bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--log-level", "debug",
		"--database-url", databaseURL, "--redis-url", redisURL,
		"--turn-listen", "127.0.0.1:0", "--turn-secret", "e2e-multinode-turn-secret-0123456789"}
	if ip := testenv.TestHostIP(); ip != "" {
		args = append(args, "--turn-allow-peers", ip)
	}
	n := startServe(t, name, append(args, extra...))
	require.Eventually(t, func() bool { return n.health()["redis"] == "ok" }, 10*time.Second, 20*time.Millisecond,
		"node %s never reported Redis healthy", name)
	return n
}

// startServe runs argv (a `kvmrelay serve` command line, possibly behind a wrapper such as
// prlimit) until it prints its URL; the test's end stops it with SIGTERM and expects a clean
// exit.
func startServe(t *testing.T, name string, argv []string) *relayNode {
	t.Helper()
	dir := t.TempDir()
	n := &relayNode{logPath: filepath.Join(dir, "stderr.log"), done: make(chan struct{})}
	stdout, err := os.Create(filepath.Join(dir, "stdout.log"))
	require.NoError(t, err)
	defer stdout.Close() // the child has its own descriptor
	stderr, err := os.Create(n.logPath)
	require.NoError(t, err)
	defer stderr.Close()
	n.cmd = exec.Command(argv[0], argv[1:]...)
	n.cmd.Env = nodeEnv()
	n.cmd.Stdout, n.cmd.Stderr = stdout, stderr
	require.NoError(t, n.cmd.Start())
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
			assert.True(t, n.cmd.ProcessState.Success(), "node %s: %s on SIGTERM, want a clean exit", name, n.cmd.ProcessState)
		case <-time.After(15 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
			t.Errorf("node %s did not stop within 15s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("node %s log:\n%s", name, n.logs(t))
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for n.url == "" {
		out, _ := os.ReadFile(stdout.Name())
		if m := servingLine.FindSubmatch(out); m != nil {
			n.url = string(m[1])
			break
		}
		select {
		case <-n.done:
			t.Fatalf("node %s exited at start:\n%s", name, n.logs(t))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not start within 30s:\n%s", name, n.logs(t))
		}
	}
	return n
}

// nodeEnv is this process's environment without KVMRELAY_* variables, which serve would take
// for flags.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KVMRELAY_") {
			env = append(env, kv)
		}
	}
	return env
}

func (n *relayNode) logs(t *testing.T) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		t.Logf("read node log: %v", err)
	}
	return string(b)
}

// health is the node's /healthz body, nil when it does not answer.
func (n *relayNode) health() map[string]string {
	resp, err := http.Get(n.url + "/healthz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out map[string]string
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	return out
}

// link mints a one-time console link for dev1 on node A.
func (c *cluster) link(t *testing.T) string {
	t.Helper()
	l, err := relay.ConsoleLink(c.issuer, c.a.url, "dev1", "e2e")
	require.NoError(t, err)
	return l
}

// openConsole opens a Go test console on node A.
func (c *cluster) openConsole(t *testing.T, ctx context.Context, cfg testconsole.Config) *testconsole.Console {
	t.Helper()
	code, err := testconsole.CodeFromLink(c.link(t))
	require.NoError(t, err)
	cfg.Relay, cfg.Code = c.a.url, code
	con, err := testconsole.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(con.Close)
	return con
}

// session opens a console on A and checks that video arrives and a key reaches the device.
//
// Right after Redis comes back, /healthz can answer before a node's pub/sub connection has
// noticed it was cut (the next read fails some milliseconds later); a console subscribing in
// that window is closed with 1001 "going away" and, like the page, opens again. That is the
// only failure given a second attempt.
func (c *cluster) session(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := testconsole.CodeFromLink(c.link(t))
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: c.a.url, Code: code})
	if err != nil && strings.Contains(err.Error(), "going away") {
		t.Logf("console closed while a node's Redis subscription was re-established (%v); opening again", err)
		code, err = testconsole.CodeFromLink(c.link(t))
		require.NoError(t, err)
		con, err = testconsole.Open(ctx, testconsole.Config{Relay: c.a.url, Code: code})
	}
	require.NoError(t, err)
	t.Cleanup(con.Close)
	require.NoError(t, con.WaitChannels(ctx))
	_, err = con.WaitVideo(ctx)
	require.NoError(t, err)
	c.pressKey(t, con)
	con.Close()
	c.waitNoAgentSession(t)
}

func (c *cluster) pressKey(t *testing.T, con *testconsole.Console) {
	t.Helper()
	pressKeyOn(t, c.device, con)
}

// negotiateThroughOutage opens a console while Redis goes away (and comes back after down) in
// the middle of the negotiation. The console must end up connected (then it works) or told:
// an error message, or its signaling connection closed, so that it can start over. What must
// never happen is a console left waiting on an open signaling connection for an answer that
// will never come.
func (c *cluster) negotiateThroughOutage(t *testing.T, beforeAnswer bool, down time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	outage := func() {
		c.redis.Kill()
		time.Sleep(down)
		c.redis.Start(t)
	}
	var cfg testconsole.Config
	held, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	if beforeAnswer {
		cfg.MungeAnswer = func(sdp string) string {
			once.Do(func() {
				close(held)
				select { // the test goroutine runs the outage; never block the console for good
				case <-resume:
				case <-ctx.Done():
				}
			})
			return sdp
		}
	}
	con := c.openConsole(t, ctx, cfg)
	if beforeAnswer {
		select {
		case <-held:
		case <-ctx.Done():
			t.Fatal("the agent's offer never reached the console")
		}
		outage()
		close(resume)
	} else {
		outage()
	}

	// Connected within 20s, or failed. A closed signaling connection settles it sooner: only an
	// answer already delivered could still connect, so ICE gets 5s more, not the full wait.
	wait, cancelWait := context.WithTimeout(ctx, 20*time.Second)
	defer cancelWait()
	opened := make(chan error, 1)
	go func() { opened <- con.WaitChannels(wait) }() // ends with wait at the latest
	var err error
	select {
	case err = <-opened:
	case <-con.Signaling().Done():
		select {
		case err = <-opened:
		case <-time.After(5 * time.Second):
			cancelWait()
			err = <-opened
		}
	}
	if err == nil {
		t.Log("outcome: connected despite the outage")
		c.pressKey(t, con)
		return
	}
	var told []string
	for _, e := range con.Errors() {
		told = append(told, e.Code)
	}
	select {
	case <-con.Signaling().Done():
		told = append(told, "signaling closed: "+fmt.Sprint(con.Signaling().Err()))
	default:
	}
	require.NotEmpty(t, told, "half-open: 20s after the outage the console is neither connected nor told anything, on an open signaling connection")
	t.Logf("outcome: failed cleanly; the console was told: %s", strings.Join(told, "; "))
}

// waitNoAgentSession waits until the agent serves no session: every console that went away,
// connected or not, is cleaned up on the agent (at the latest by its 30s connect timeout).
func (c *cluster) waitNoAgentSession(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.agent.Sessions) == 0 }, 45*time.Second, 50*time.Millisecond,
		"the agent still holds a session nobody uses")
}

// waitRedisHealthy waits until both nodes' Redis connections answer again.
func (c *cluster) waitRedisHealthy(t *testing.T) {
	t.Helper()
	for _, n := range []*relayNode{c.a, c.b} {
		require.Eventually(t, func() bool { return n.health()["redis"] == "ok" }, 15*time.Second, 50*time.Millisecond,
			"a node never reconnected to Redis")
	}
}
