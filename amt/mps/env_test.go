package mps_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

const (
	guid    = "8c4c4c4c-0000-1111-2222-0123456789ab"
	offline = "8c4c4c4c-0000-1111-2222-000000000002" // known, never connected
	unknown = "8c4c4c4c-0000-1111-2222-000000000003"
)

// env is a fake MPS with one connected device and one offline, and a client for it.
type env struct {
	devs   *fakemps.MemDevices
	dev    *fakemps.MemDevice
	fake   *fakemps.Server
	clock  *testenv.Clock
	ts     *httptest.Server
	client *mps.Client
}

type envOpts struct {
	plain    bool                            // http:// instead of https://
	fake     func(*fakemps.Config)           // adjust the fake
	wrap     func(http.Handler) http.Handler // a gateway in front
	paths    mps.Paths
	password string
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{devs: fakemps.NewMemDevices(), clock: testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	e.dev = e.devs.Add(fakemps.DeviceInfo{GUID: guid, Hostname: "amt-1", FriendlyName: "Lab PC", Tags: []string{"lab"}, MPSUsername: "cira"})
	e.dev.SetConnected(true)
	e.devs.Add(fakemps.DeviceInfo{GUID: offline, Hostname: "amt-2"})
	cfg := fakemps.Config{
		Devices: e.devs,
		Users:   map[string]string{"admin": "G@ppm0ym"},
		Secret:  []byte("a secret of at least 32 bytes long!!"),
		Now:     e.clock.Now,
	}
	if o.fake != nil {
		o.fake(&cfg)
	}
	var err error
	e.fake, err = fakemps.New(cfg)
	require.NoError(t, err)
	h := e.fake.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	if o.plain {
		e.ts = httptest.NewServer(h)
	} else {
		e.ts = httptest.NewTLSServer(h)
	}
	t.Cleanup(func() {
		e.fake.Close()
		e.ts.Close()
	})
	base, err := url.Parse(e.ts.URL)
	require.NoError(t, err)
	pass := o.password
	if pass == "" {
		pass = "G@ppm0ym"
	}
	e.client, err = mps.New(mps.Config{BaseURL: base, User: "Admin", Password: pass, HTTPClient: e.ts.Client(), Paths: o.paths})
	require.NoError(t, err)
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial opens a KVM relay and the device end of its channel.
func (e *env) dial(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ctx := ctxT(t)
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := e.client.DialKVM(ctx, guid)
		ch <- res{c, err}
	}()
	devEnd, err := e.dev.Accept(ctx)
	require.NoError(t, err)
	r := <-ch
	require.NoError(t, r.err)
	t.Cleanup(func() { r.c.Close(); devEnd.Close() })
	return r.c, devEnd
}
