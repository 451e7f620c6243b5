package mps_test

import (
	"bytes"
	"crypto/sha256"

	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
)

func TestRelayRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env, t *testing.T)
		guid  string
		want  error
	}{
		{name: "bad signature", setup: func(e *env, _ *testing.T) { e.fake.SetTokenFault(fakemps.TokenBadSignature) }, guid: guid, want: mps.ErrTokenRefused},
		{name: "expired", setup: func(e *env, _ *testing.T) { e.fake.SetTokenFault(fakemps.TokenExpired) }, guid: guid, want: mps.ErrTokenRefused},
		{name: "wrong device", setup: func(e *env, _ *testing.T) { e.fake.SetTokenFault(fakemps.TokenWrongDevice) }, guid: guid, want: mps.ErrTokenRefused},
		{name: "second session", setup: func(e *env, t *testing.T) { e.dial(t) }, guid: guid, want: mps.ErrInUse},
		{name: "not connected", guid: offline, want: mps.ErrNotConnected},
		{name: "unknown device", guid: unknown, want: mps.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			if tt.setup != nil {
				tt.setup(e, t)
			}
			c, err := e.client.DialKVM(ctxT(t), tt.guid)
			if c != nil {
				c.Close()
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

// allBytes is 0x00 … 0xFF.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestRelayAllByteValues(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "binary"}[binary], func(t *testing.T) {
			e := newEnv(t, envOpts{fake: func(c *fakemps.Config) { c.BinaryFrames = binary }})
			conn, devEnd := e.dial(t)
			want := allBytes()
			go devEnd.Write(want)
			got := make([]byte, len(want))
			_, err := io.ReadFull(conn, got)
			require.NoError(t, err)
			assert.Equal(t, want, got)

			// And back: the client's bytes arrive as they are.
			go conn.Write(want)
			got = make([]byte, len(want))
			_, err = io.ReadFull(devEnd, got)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestRelayLargeBothWays(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "binary"}[binary], func(t *testing.T) {
			e := newEnv(t, envOpts{fake: func(c *fakemps.Config) { c.BinaryFrames = binary }})
			conn, devEnd := e.dial(t)
			const size = 3<<20 + 12345
			down, up := make([]byte, size), make([]byte, size)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range down {
				down[i], up[i] = byte(r.Uint32()), byte(r.Uint32())
			}
			errs := make(chan error, 4)
			sum := func(rd io.Reader, out chan<- [32]byte) {
				h := sha256.New()
				_, err := io.CopyN(h, rd, size)
				errs <- err
				var s [32]byte
				copy(s[:], h.Sum(nil))
				out <- s
			}
			gotDown, gotUp := make(chan [32]byte, 1), make(chan [32]byte, 1)
			go sum(conn, gotDown)
			go sum(devEnd, gotUp)
			// Odd write sizes so messages split runes' bytes everywhere.
			write := func(w io.Writer, b []byte, seed uint64) {
				r := rand.New(rand.NewPCG(seed, 0))
				for len(b) > 0 {
					n := min(len(b), 1+r.IntN(100000))
					if _, err := w.Write(b[:n]); err != nil {
						errs <- err
						return
					}
					b = b[n:]
				}
				errs <- nil
			}
			go write(devEnd, down, 3)
			go write(conn, up, 4)
			for range 4 {
				require.NoError(t, <-errs)
			}
			assert.Equal(t, sha256.Sum256(down), <-gotDown)
			assert.Equal(t, sha256.Sum256(up), <-gotUp)
		})
	}
}

func TestRelayDeviceCloseIsEOF(t *testing.T) {
	e := newEnv(t, envOpts{})
	conn, devEnd := e.dial(t)
	_, err := devEnd.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, devEnd.Close())
	got, err := io.ReadAll(conn)
	require.NoError(t, err, "io.ReadAll stops at io.EOF without an error")
	assert.Equal(t, "bye", string(got))
	assert.False(t, e.fake.KVMConnected(guid), "MPS freed the device before closing")
	_, err = conn.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
}

func TestRelayLinkDropLeavesSocketOpen(t *testing.T) {
	e := newEnv(t, envOpts{})
	conn, devEnd := e.dial(t)
	_, err := devEnd.Write([]byte("x"))
	require.NoError(t, err)
	buf := make([]byte, 8)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "x", string(buf[:n]))

	e.dev.SetConnected(false)
	// Writes still go somewhere (MPS swallows them) …
	_, err = conn.Write([]byte("anyone?"))
	require.NoError(t, err)
	// … and reads hear nothing: no EOF, only our own deadline.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = conn.Read(buf)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	// MPS forgot the device: after the link is back, a new session opens beside the old socket.
	_, err = e.client.RedirectStatus(ctxT(t), guid)
	require.ErrorIs(t, err, mps.ErrNotConnected)
	e.dev.SetConnected(true)
	conn2, devEnd2 := e.dial(t)
	_, err = conn2.Write([]byte("again"))
	require.NoError(t, err)
	got := make([]byte, 5)
	_, err = io.ReadFull(devEnd2, got)
	require.NoError(t, err)
	assert.Equal(t, "again", string(got))
	require.NoError(t, conn.Close())
}

func TestRelayClientClose(t *testing.T) {
	e := newEnv(t, envOpts{})
	conn, devEnd := e.dial(t)
	require.True(t, e.fake.KVMConnected(guid))
	require.NoError(t, conn.Close())
	_, err := devEnd.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "MPS closes the channel when the WebSocket closes")
	require.Eventually(t, func() bool { return !e.fake.KVMConnected(guid) }, 10*time.Second, 5*time.Millisecond)
	_, err = conn.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = conn.Write([]byte("x"))
	assert.Error(t, err)
	assert.NoError(t, conn.Close(), "a second Close is harmless")
}

func TestRelayMPSRestart(t *testing.T) {
	devs := fakemps.NewMemDevices()
	dev := devs.Add(fakemps.DeviceInfo{GUID: guid})
	dev.SetConnected(true)
	fake, err := fakemps.New(fakemps.Config{Devices: devs, Users: map[string]string{"admin": "pw"}, Listen: []string{"127.0.0.1:0"}})
	require.NoError(t, err)
	require.NoError(t, fake.Start())
	defer fake.Close()
	c, err := mps.New(mps.Config{BaseURL: fake.URL(), User: "admin", Password: "pw"})
	require.NoError(t, err)
	ctx := ctxT(t)
	open := func() (net.Conn, net.Conn) {
		conns := make(chan net.Conn, 1)
		go func() {
			d, err := dev.Accept(ctx)
			assert.NoError(t, err)
			conns <- d
		}()
		conn, err := c.DialKVM(ctx, guid)
		require.NoError(t, err)
		return conn, <-conns
	}
	conn, devEnd := open()
	defer devEnd.Close()
	defer conn.Close()
	addrs := fake.Addrs()

	require.NoError(t, fake.Restart())
	assert.Equal(t, addrs, fake.Addrs(), "same addresses after the restart")
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut without a close frame")
	conn.Close()

	conn2, devEnd2 := open()
	defer devEnd2.Close()
	defer conn2.Close()
	_, err = devEnd2.Write([]byte("back"))
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(conn2, got)
	require.NoError(t, err)
	assert.Equal(t, "back", string(got))
}

func TestRelayURL(t *testing.T) {
	// The relay URL as MPS's own consoles build it, seen by a server that only records it.
	got := make(chan *url.URL, 1)
	protos := make(chan []string, 1)
	e := newEnv(t, envOpts{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/relay/webrelay.ashx" {
				got <- r.URL
				protos <- r.Header.Values("Sec-Websocket-Protocol")
			}
			h.ServeHTTP(w, r)
		})
	}})
	conn, _ := e.dial(t)
	defer conn.Close()
	u := <-got
	assert.Equal(t, "p=2&host="+guid+"&port=16994&tls=0&tls1only=0&mode=kvm", u.RawQuery)
	p := <-protos
	require.Len(t, p, 1)
	assert.Equal(t, 2, bytes.Count([]byte(p[0]), []byte(".")), "the token, alone")
	assert.NotContains(t, p[0], ",")
}
