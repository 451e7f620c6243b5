package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a throwaway redis-server bound to 127.0.0.1 for one test: no persistence, its own
// directory, stopped at cleanup. Kill and Restart let tests see Redis fail and come back on the
// same address.
type Redis struct {
	path string
	port int
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd // nil while stopped
}

// StartRedis starts redis-server (Debian package redis-server) on a free loopback port.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{path: LookPath(t, "redis-server", "redis-server"), port: FreePort(t), dir: t.TempDir()}
	t.Cleanup(r.Kill)
	if err := r.start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	return r
}

// Addr is host:port of the server.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Kill stops the server at once (SIGKILL): clients see their connections drop, as when Redis
// crashes. Killing a stopped server does nothing.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Freeze stops the server process (SIGSTOP) without closing its sockets: clients see a Redis that
// accepts bytes and never answers, as behind a link that drops everything. Thaw resumes it.
func (r *Redis) Freeze(t testing.TB) { r.signal(t, syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (r *Redis) Thaw(t testing.TB) { r.signal(t, syscall.SIGCONT) }

func (r *Redis) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		t.Fatalf("redis-server is not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal redis-server: %v", err)
	}
}

// Restart kills the server and starts a fresh one (empty, since nothing is persisted) on the
// same port.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.Kill()
	if err := r.start(); err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
}

// Start starts a killed server again on the same port.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil
	}
	cmd := exec.Command(r.path,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir,
		"--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", r.path, err)
	}
	// A just-killed server's port can take a moment to come free; waiting for PONG covers both
	// that and the server's own start-up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(r.Addr()); err == nil {
			r.cmd = cmd
			return nil
		} else if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("redis-server on %s did not answer PING: %w", r.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping speaks just enough RESP to know the server is up.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// FreePort asks the kernel for a free loopback port, for a server a test starts (redis-server,
// x11vnc, ffmpeg). Another process could take it before the server binds it; on a test
// machine that is rare enough.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
