package cira_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/amt/cira"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// waitLimit bounds every wait in these tests: far above what anything takes, so a failure
// means a hang, not a slow machine.
const waitLimit = 20 * time.Second

var (
	guidA = apf.GUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}
	guidB = apf.GUID{0x4c, 0x4c, 0x45, 0x44, 0x00, 0x4b, 0x42, 0x10, 0x80, 0x33, 0xb6, 0xc0, 0x4f, 0x50, 0x46, 0x33}
)

const (
	mpsUser = "mpsuser"
	mpsPass = "Sec-ret_1"
)

// mps is a Server on a TLS listener on 127.0.0.1 with a self-signed certificate, its
// connect/disconnect events as strings ("connect <guid>", "disconnect <guid>").
type mps struct {
	srv    *cira.Server
	addr   string
	client *tls.Config
	events chan string
}

// startMPS starts a Server knowing guidA and guidB with mpsUser/mpsPass; change tweaks cfg.
func startMPS(t *testing.T, change func(*cira.ServerConfig)) *mps {
	t.Helper()
	cert := testenv.SelfSignedCert(t, "")
	m := &mps{events: make(chan string, 64), client: &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1"}}
	cfg := cira.ServerConfig{
		Known: func(g apf.GUID) bool { return g == guidA || g == guidB },
		Authenticate: func(g apf.GUID, user, password string) bool {
			return user == mpsUser && password == mpsPass
		},
		OnConnect:    func(g apf.GUID) { m.events <- "connect " + g.String() },
		OnDisconnect: func(g apf.GUID) { m.events <- "disconnect " + g.String() },
	}
	if change != nil {
		change(&cfg)
	}
	m.srv = cira.NewServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m.addr = ln.Addr().String()
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert.Pair}})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- m.srv.Serve(ctx, tln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
		require.NoError(t, m.srv.Close())
	})
	return m
}

// event waits for the next connect/disconnect event.
func (m *mps) event(t *testing.T) string {
	t.Helper()
	select {
	case e := <-m.events:
		return e
	case <-time.After(waitLimit):
		t.Fatal("no connect/disconnect event")
		return ""
	}
}

// device is a Client running against an mps, with Run's result.
type device struct {
	c    *cira.Client
	done chan error
	once sync.Once
	err  error
}

func deviceConfig(g apf.GUID, accept func(uint16, net.Conn)) cira.ClientConfig {
	return cira.ClientConfig{GUID: g, User: mpsUser, Password: mpsPass, Accept: accept}
}

// startDevice dials m and runs the client; the test's cleanup closes it.
func startDevice(t *testing.T, m *mps, cfg cira.ClientConfig) *device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := cira.Dial(ctx, m.addr, m.client, cfg)
	require.NoError(t, err)
	d := &device{c: c, done: make(chan error, 1)}
	go func() { d.done <- c.Run(context.Background()) }()
	t.Cleanup(func() { _ = c.Close(); d.result(t) })
	return d
}

// result waits for Run to return.
func (d *device) result(t *testing.T) error {
	t.Helper()
	d.once.Do(func() {
		select {
		case d.err = <-d.done:
		case <-time.After(waitLimit):
			t.Fatal("device Run did not return")
		}
	})
	return d.err
}

func (d *device) ready(t *testing.T) {
	t.Helper()
	select {
	case <-d.c.Ready():
	case err := <-d.done:
		d.once.Do(func() { d.err = err })
		t.Fatalf("device link ended before it was ready: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("device not ready")
	}
}

// echo is an Accept that copies a channel back to itself.
func echo(_ uint16, ch net.Conn) {
	defer ch.Close()
	buf := make([]byte, 4096)
	for {
		n, err := ch.Read(buf)
		if n > 0 {
			if _, werr := ch.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func dial(t *testing.T, m *mps, g apf.GUID, port uint16) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	ch, err := m.srv.Dial(ctx, g, port)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
