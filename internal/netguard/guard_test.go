package netguard

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server accepts through a guarded listener and hands every accepted *Conn to the test.
type server struct {
	g   *Guard
	ln  net.Listener
	got chan *Conn
	wg  sync.WaitGroup
}

func newServer(t *testing.T, cfg Config) *server {
	t.Helper()
	cfg.Registerer = prometheus.NewRegistry()
	g, err := New(cfg)
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &server{g: g, ln: g.Listener("http", raw), got: make(chan *Conn, 64)}
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return // closed
			}
			s.got <- c.(*Conn) //nolint:forcetypeassert // the guard returns *Conn
		}
	})
	t.Cleanup(func() {
		_ = s.ln.Close()
		s.wg.Wait()
		close(s.got)
		for c := range s.got {
			_ = c.Close()
		}
		g.Close()
	})
	return s
}

// dial connects from the loopback address from (127.0.0.x: all of 127/8 is loopback on Linux).
func (s *server) dial(t *testing.T, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", s.ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *server) accepted(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-s.got:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func (s *server) refused(reason refusal) float64 {
	return testutil.ToFloat64(s.g.metrics.refusals.WithLabelValues("http", string(reason)))
}

// closedByServer reports whether the server closed c (a read sees EOF or a reset).
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	return closedWithin(t, c, 5*time.Second)
}

// stillOpen reports whether c stays open for a moment (the close it would see is immediate).
func stillOpen(t *testing.T, c net.Conn) bool {
	t.Helper()
	return !closedWithin(t, c, 200*time.Millisecond)
}

func closedWithin(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestPerAddressCap(t *testing.T) {
	s := newServer(t, Config{MaxPerAddress: 2, Budget: 100, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}})
	s.dial(t, "127.0.0.2")
	s.dial(t, "127.0.0.2")
	s.accepted(t)
	s.accepted(t)
	third := s.dial(t, "127.0.0.2")
	assert.True(t, closedByServer(t, third), "the third connection from one address is closed")
	assert.Eventually(t, func() bool { return s.refused(refusedPerAddress) == 1 }, 5*time.Second, 10*time.Millisecond)

	// Another address, and an exempt (trusted proxy) one, are not affected.
	s.dial(t, "127.0.0.3")
	s.accepted(t)
	for range 3 {
		s.dial(t, "127.0.0.9")
		s.accepted(t)
	}
	assert.Equal(t, 6, s.g.Open())
}

func TestPerAddressCapCountsIPv6ByPrefix(t *testing.T) {
	assert.Equal(t, netip.MustParseAddr("2001:db8:1:2::"), addressKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1")))
	assert.Equal(t, addressKey(netip.MustParseAddr("2001:db8:1:2::1")), addressKey(netip.MustParseAddr("2001:db8:1:2:ffff::9")))
	assert.NotEqual(t, addressKey(netip.MustParseAddr("2001:db8:1:2::1")), addressKey(netip.MustParseAddr("2001:db8:1:3::1")))
	assert.Equal(t, netip.MustParseAddr("192.0.2.7"), addressKey(netip.MustParseAddr("::ffff:192.0.2.7")))
}

func TestReleaseGivesThePlaceBack(t *testing.T) {
	s := newServer(t, Config{MaxPerAddress: 1, Budget: 100})
	s.dial(t, "127.0.0.2")
	first := s.accepted(t)
	require.NoError(t, first.Close())
	assert.ErrorIs(t, first.Close(), net.ErrClosed, "a second Close gives nothing back twice")
	s.dial(t, "127.0.0.2")
	s.accepted(t)
	assert.Equal(t, 1, s.g.Open())
	assert.Zero(t, s.refused(refusedPerAddress))
}

// Over budget, a newcomer takes the place of the oldest connection that never spoke, then of
// the oldest that spoke but never authenticated; trusted connections stay.
func TestBudgetEvictsUnprovenOldestFirst(t *testing.T) {
	s := newServer(t, Config{MaxPerAddress: -1, Budget: 3, FirstByteTimeout: time.Hour})
	talker := s.dial(t, "127.0.0.2")
	talkerSrv := s.accepted(t)
	_, err := talker.Write([]byte("GET"))
	require.NoError(t, err)
	_, err = io.ReadFull(talkerSrv, make([]byte, 3))
	require.NoError(t, err)

	silent := s.dial(t, "127.0.0.3")
	s.accepted(t)
	agent := s.dial(t, "127.0.0.4")
	require.True(t, Trust(s.accepted(t)))

	// Full. The silent one goes first although the talker is older.
	newcomer := s.dial(t, "127.0.0.5")
	newcomerSrv := s.accepted(t)
	assert.True(t, closedByServer(t, silent), "the connection that never spoke is evicted")
	_, err = newcomer.Write([]byte("GET"))
	require.NoError(t, err)
	_, err = io.ReadFull(newcomerSrv, make([]byte, 3))
	require.NoError(t, err)
	// No silent one is left: the oldest unauthenticated talker goes, not the newer one.
	s.dial(t, "127.0.0.6")
	s.accepted(t)
	assert.True(t, closedByServer(t, talker), "the oldest unauthenticated talker is evicted once no silent one is left")
	assert.True(t, stillOpen(t, newcomer), "the newer talker stays")
	assert.True(t, stillOpen(t, agent), "a trusted connection is never evicted")
	assert.Equal(t, float64(2), s.refused(refusedEvicted))
	assert.Equal(t, 3, s.g.Open())
}

func TestBudgetFullOfTrustedRefusesNewcomers(t *testing.T) {
	s := newServer(t, Config{MaxPerAddress: -1, Budget: 1})
	s.dial(t, "127.0.0.2")
	require.True(t, Trust(s.accepted(t)))
	late := s.dial(t, "127.0.0.3")
	assert.True(t, closedByServer(t, late))
	assert.Eventually(t, func() bool { return s.refused(refusedBudget) == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestFirstByteTimeout(t *testing.T) {
	s := newServer(t, Config{FirstByteTimeout: 100 * time.Millisecond, Budget: 100})
	quiet := s.dial(t, "127.0.0.2")
	s.accepted(t)
	talker := s.dial(t, "127.0.0.3")
	talkerSrv := s.accepted(t)
	_, err := talker.Write([]byte("x"))
	require.NoError(t, err)
	_, err = io.ReadFull(talkerSrv, make([]byte, 1))
	require.NoError(t, err)

	assert.True(t, closedByServer(t, quiet), "a connection that says nothing is closed")
	assert.Equal(t, float64(1), s.refused(refusedIdle))
	require.NoError(t, talker.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = talker.Read(make([]byte, 1))
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "a connection that spoke stays open (got %v)", err)
	assert.Equal(t, 1, s.g.Open())
}

// flaky fails its first accepts with the given errors, then accepts for real.
type flaky struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (f *flaky) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

// flakyGuard is a guard over a flaky listener, all closed when the test ends.
func flakyGuard(t *testing.T, cfg Config) (*Guard, *flaky, net.Listener) {
	t.Helper()
	cfg.Registerer = prometheus.NewRegistry()
	g, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(g.Close)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &flaky{Listener: raw}
	ln := g.Listener("http", f)
	t.Cleanup(func() { _ = ln.Close() })
	return g, f, ln
}

func (f *flaky) inject(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, errs...)
}

func opErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: &osSyscallError{errno}}
}

// osSyscallError is what os.NewSyscallError makes, without importing os for it.
type osSyscallError struct{ err error }

func (e *osSyscallError) Error() string { return "accept4: " + e.err.Error() }
func (e *osSyscallError) Unwrap() error { return e.err }

func TestAcceptSurvivesErrors(t *testing.T) {
	cases := []struct {
		name string
		errs []error
	}{
		{"aborted and out of buffers", []error{opErr(syscall.ECONNABORTED), opErr(syscall.ENOBUFS)}},
		{"an error no one planned for", []error{errors.New("accept: something new")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, f, ln := flakyGuard(t, Config{Budget: 10})
			f.inject(tc.errs...)

			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			got, err := ln.Accept()
			require.NoError(t, err, "Accept retries instead of failing")
			defer got.Close()
			assert.Equal(t, float64(len(tc.errs)), testutil.ToFloat64(g.metrics.failures.WithLabelValues("http")))
		})
	}
}

// Out of descriptors with nothing to evict, the pending client is taken with the spare
// descriptor and closed at once (it learns now instead of waiting in the backlog), and the
// listener goes on serving.
func TestExhaustionShedsWhenNothingCanBeEvicted(t *testing.T) {
	g, f, ln := flakyGuard(t, Config{Budget: 10})
	f.inject(opErr(syscall.EMFILE))

	first, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer first.Close()
	second, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer second.Close()
	got, err := ln.Accept()
	require.NoError(t, err, "Accept goes on after the descriptors came back")
	defer got.Close()
	assert.True(t, closedByServer(t, first), "the client pending while exhausted is told at once")
	assert.Equal(t, float64(1), testutil.ToFloat64(g.metrics.refusals.WithLabelValues("http", string(refusedDescriptors))))
	assert.Equal(t, float64(1), testutil.ToFloat64(g.metrics.failures.WithLabelValues("http")))
}

// While descriptors are exhausted, the guard frees one by evicting an unproven connection
// and takes the pending client at once.
func TestExhaustionEvictsToAdmitThePendingClient(t *testing.T) {
	g, f, ln := flakyGuard(t, Config{Budget: 10, FirstByteTimeout: time.Hour})

	idle, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer idle.Close()
	idleSrv, err := ln.Accept()
	require.NoError(t, err)
	defer idleSrv.Close()

	f.inject(opErr(syscall.EMFILE))
	health, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer health.Close()
	got, err := ln.Accept()
	require.NoError(t, err)
	defer got.Close()
	assert.True(t, closedByServer(t, idle), "the idle connection made room")
	assert.Equal(t, float64(1), testutil.ToFloat64(g.metrics.refusals.WithLabelValues("http", string(refusedEvicted))))
}

func TestAcceptReturnsClosedDuringBackoff(t *testing.T) {
	g, err := New(Config{Budget: 10})
	require.NoError(t, err)
	defer g.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &flaky{Listener: raw}
	errs := make([]error, 100)
	for i := range errs {
		errs[i] = opErr(syscall.EMFILE)
	}
	f.inject(errs...)
	ln := g.Listener("http", f)
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, ln.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

func TestTrustThroughTLS(t *testing.T) {
	s := newServer(t, Config{Budget: 10})
	s.dial(t, "127.0.0.2")
	gc := s.accepted(t)
	assert.True(t, Trust(tls.Server(gc, &tls.Config{MinVersion: tls.VersionTLS12})))
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	assert.False(t, Trust(a), "an unguarded connection")
}

func TestConfigFromDescriptorLimit(t *testing.T) {
	limit, err := descriptorLimit()
	require.NoError(t, err)
	g, err := New(Config{})
	require.NoError(t, err)
	defer g.Close()
	assert.Equal(t, limit-max(minReserve, limit/8), g.Budget())

	_, err = New(Config{Reserve: limit})
	assert.ErrorIs(t, err, ErrConfig, "a reserve that leaves nothing is refused")
	_, err = New(Config{FirstByteTimeout: -time.Second})
	assert.ErrorIs(t, err, ErrConfig)
}
