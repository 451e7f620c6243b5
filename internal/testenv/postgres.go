package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrPostgresMissing is returned by StartPostgres when no PostgreSQL server binaries exist.
var ErrPostgresMissing = errors.New("testenv: PostgreSQL server binaries not found")

// PostgresInstall is how to get the server binaries on Debian.
const PostgresInstall = "apt-get install -y postgresql"

// PostgresServer is a throwaway PostgreSQL cluster: its own data directory, a unix socket in
// that directory, a random port on 127.0.0.1, fsync off. Stop removes all of it.
type PostgresServer struct {
	dir      string
	port     int
	password string // of the superuser "postgres"
	cmd      *exec.Cmd
	done     chan struct{} // closed when the server process has exited
	mu       sync.Mutex
	dbs      int
}

// postgresBinDir finds initdb and postgres: $KVMRELAY_PG_BIN, the newest
// /usr/lib/postgresql/N/bin (Debian keeps them off PATH), or PATH.
func postgresBinDir() (string, error) {
	if d := os.Getenv("KVMRELAY_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("%w: KVMRELAY_PG_BIN=%s: %v", ErrPostgresMissing, d, err)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrPostgresMissing
}

// pgRunAs makes cmd run as the postgres OS user when we are root (the server refuses root).
func pgRunAs(cmd *exec.Cmd, cred *syscall.Credential) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// postgresCredential is nil unless we are root, then the postgres user's ids.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("testenv: running as root needs the postgres OS user (%s): %w", PostgresInstall, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func pgFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartPostgres initializes and starts a cluster, returning when it accepts connections.
func StartPostgres(ctx context.Context) (*PostgresServer, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kvmrelay-pg-")
	if err != nil {
		return nil, fmt.Errorf("testenv: postgres dir: %w", err)
	}
	s := &PostgresServer{dir: dir, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	s.password = hex.EncodeToString(pw[:])
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("testenv: postgres pwfile: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("testenv: chown postgres dir: %w", err)
		}
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("testenv: chown pwfile: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
	pgRunAs(initdb, cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testenv: initdb: %w\n%s", err, out)
	}
	if s.port, err = pgFreePort(); err != nil {
		return nil, fmt.Errorf("testenv: free port: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, fmt.Errorf("testenv: postgres log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=100")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	pgRunAs(s.cmd, cred)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start postgres: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		_ = s.Stop()
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *PostgresServer) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.URL("postgres", "postgres", s.password))
		if err == nil {
			return c.Close(ctx)
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("testenv: postgres exited: %s", log)
		case <-ctx.Done():
			return fmt.Errorf("testenv: postgres not ready after %v: %w", limit, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is a TCP connection URL for database db as user.
func (s *PostgresServer) URL(db, user, password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// SuperuserURL connects to the "postgres" database as the superuser.
func (s *PostgresServer) SuperuserURL() string { return s.URL("postgres", "postgres", s.password) }

// CreateDatabase makes a fresh database for one test and returns its owner's (superuser's)
// URL. Databases go away with the cluster.
func (s *PostgresServer) CreateDatabase(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	name := fmt.Sprintf("t%d_%s", s.dbs, strings.ToLower(pgSanitize(t.Name())))
	s.mu.Unlock()
	if len(name) > 60 {
		name = name[:60]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.SuperuserURL())
	if err != nil {
		t.Fatalf("testenv: connect postgres: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	return s.URL(name, "postgres", s.password)
}

func pgSanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// Stop shuts the server down (fast shutdown, then kill) and removes its directory.
func (s *PostgresServer) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	return os.RemoveAll(s.dir)
}

// SharedPostgres starts one cluster per test binary on first use. Declare one in the test
// package and call Stop from TestMain after m.Run.
type SharedPostgres struct {
	once sync.Once
	srv  *PostgresServer
	err  error
}

// Get returns the shared cluster, starting it on first use. Missing binaries fail the test in
// CI and skip it elsewhere; any other start failure fails it.
func (p *SharedPostgres) Get(t testing.TB) *PostgresServer {
	t.Helper()
	p.once.Do(func() { p.srv, p.err = StartPostgres(context.Background()) })
	if errors.Is(p.err, ErrPostgresMissing) {
		Missing(t, "PostgreSQL server (initdb, postgres)", PostgresInstall)
	}
	if p.err != nil {
		t.Fatalf("start postgres: %v", p.err)
	}
	return p.srv
}

// Stop stops the cluster if it was started.
func (p *SharedPostgres) Stop() error {
	if p.srv == nil {
		return nil
	}
	return p.srv.Stop()
}
