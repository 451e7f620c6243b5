package cira_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/amt/cira"
)

func TestLogin(t *testing.T) {
	m := startMPS(t, nil)
	d := startDevice(t, m, deviceConfig(guidA, echo))
	d.ready(t)
	assert.Equal(t, "connect "+guidA.String(), m.event(t))
	assert.True(t, m.srv.Connected(guidA))
	assert.False(t, m.srv.Connected(guidB))

	require.NoError(t, d.c.Close())
	require.NoError(t, d.result(t), "Close ends Run cleanly")
	assert.Equal(t, "disconnect "+guidA.String(), m.event(t))
	assert.False(t, m.srv.Connected(guidA))
}

func TestBadPassword(t *testing.T) {
	m := startMPS(t, nil)
	cfg := deviceConfig(guidA, echo)
	cfg.Password = "wrong"
	d := startDevice(t, m, cfg)
	require.ErrorIs(t, d.result(t), cira.ErrAuthFailed)
	assert.False(t, m.srv.Connected(guidA))
	assert.Empty(t, m.events, "no connect for a refused login")
}

func TestUnknownGUID(t *testing.T) {
	m := startMPS(t, nil)
	unknown := apf.GUID{15: 1}
	d := startDevice(t, m, deviceConfig(unknown, echo))
	require.ErrorIs(t, d.result(t), cira.ErrRejected)
	assert.False(t, m.srv.Connected(unknown))
	assert.Empty(t, m.events)
}

func TestDialErrors(t *testing.T) {
	m := startMPS(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := m.srv.Dial(ctx, guidA, 16994)
	require.ErrorIs(t, err, cira.ErrNotConnected)

	cfg := deviceConfig(guidA, echo)
	cfg.Ports = []uint16{16992}
	d := startDevice(t, m, cfg)
	d.ready(t)
	_, err = m.srv.Dial(ctx, guidA, 16994)
	require.ErrorIs(t, err, cira.ErrRefused, "port not forwarded")
	ch := dial(t, m, guidA, 16992)
	assert.Equal(t, "cira", ch.RemoteAddr().Network())
	assert.Equal(t, net.JoinHostPort(guidA.String(), "16992"), ch.RemoteAddr().String())
}

// TestEchoFlowControl pushes several MB each way through MPS's 81920-byte window and the
// device's 32 KiB one, with readers slower than writers on both sides: everything arrives,
// in order, and nothing deadlocks.
func TestEchoFlowControl(t *testing.T) {
	m := startMPS(t, nil)
	slowEcho := func(_ uint16, ch net.Conn) {
		defer ch.Close()
		buf := make([]byte, 1000)
		for i := 0; ; i++ {
			n, err := ch.Read(buf)
			if i%64 == 0 {
				time.Sleep(time.Millisecond) // a slow reader: the window must fill up
			}
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
	d := startDevice(t, m, deviceConfig(guidA, slowEcho))
	d.ready(t)
	ch := dial(t, m, guidA, 16994)

	want := make([]byte, 4<<20)
	_, _ = rand.Read(want)
	wrote := make(chan error, 1)
	go func() {
		// One Write bigger than any window: it must be split and paced.
		_, err := ch.Write(want)
		wrote <- err
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 777)
	require.NoError(t, ch.SetReadDeadline(time.Now().Add(waitLimit)))
	for len(got) < len(want) {
		n, err := ch.Read(buf)
		got = append(got, buf[:n]...)
		require.NoError(t, err)
		if len(got)%(256<<10) < 777 {
			time.Sleep(time.Millisecond)
		}
	}
	require.NoError(t, <-wrote)
	require.True(t, bytes.Equal(want, got), "echoed bytes differ")

	// Several channels at once share the link.
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			c, err := m.srv.Dial(context.Background(), guidA, 16992)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte("abc"), 100000)
			go func() { _, _ = c.Write(msg) }()
			back := make([]byte, len(msg))
			_ = c.SetReadDeadline(time.Now().Add(waitLimit))
			if _, err := io.ReadFull(c, back); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(msg, back) {
				errs <- errors.New("echo differs")
				return
			}
			errs <- nil
		}()
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
}

// TestStalledChannel: a channel whose reader never reads fills its window, and the link keeps
// working: other channels, keep-alives, and the stalled writer's deadline.
func TestStalledChannel(t *testing.T) {
	m := startMPS(t, nil)
	stalled := make(chan net.Conn, 1)
	accept := func(port uint16, ch net.Conn) {
		if port == 16993 {
			stalled <- ch // never read; closed by the test
			return
		}
		echo(port, ch)
	}
	d := startDevice(t, m, deviceConfig(guidA, accept))
	d.ready(t)
	ch := dial(t, m, guidA, 16993)
	devCh := <-stalled
	defer devCh.Close()

	require.NoError(t, ch.SetWriteDeadline(time.Now().Add(500*time.Millisecond)))
	n, err := ch.Write(make([]byte, 1<<20))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.True(t, isTimeout(err))
	assert.Equal(t, int(cira.DefaultClientWindow), n, "exactly the device's window was sent")

	other := dial(t, m, guidA, 16994)
	_, err = other.Write([]byte("still alive"))
	require.NoError(t, err)
	back := make([]byte, 11)
	require.NoError(t, other.SetReadDeadline(time.Now().Add(waitLimit)))
	_, err = io.ReadFull(other, back)
	require.NoError(t, err)
	assert.Equal(t, "still alive", string(back))

	// The buffered bytes are all readable on the device side.
	require.NoError(t, devCh.SetReadDeadline(time.Now().Add(waitLimit)))
	got, err := io.ReadAll(io.LimitReader(devCh, int64(n)))
	require.NoError(t, err)
	assert.Len(t, got, n)
}

func TestChannelCloseFromServer(t *testing.T) {
	m := startMPS(t, nil)
	readerDone := make(chan error, 1)
	accept := func(_ uint16, ch net.Conn) {
		defer ch.Close()
		b, err := io.ReadAll(ch)
		if err == nil && string(b) != "bye" {
			err = errors.New("got " + string(b))
		}
		readerDone <- err
	}
	d := startDevice(t, m, deviceConfig(guidA, accept))
	d.ready(t)
	ch := dial(t, m, guidA, 16994)
	_, err := ch.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, ch.Close())
	select {
	case err := <-readerDone:
		require.NoError(t, err, "device reads the data, then io.EOF")
	case <-time.After(waitLimit):
		t.Fatal("device channel never saw EOF")
	}
	_, err = ch.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, ch.Close(), net.ErrClosed)
}

func TestChannelCloseFromDevice(t *testing.T) {
	m := startMPS(t, nil)
	accept := func(_ uint16, ch net.Conn) {
		_, _ = ch.Write([]byte("hello"))
		_ = ch.Close()
	}
	d := startDevice(t, m, deviceConfig(guidA, accept))
	d.ready(t)
	ch := dial(t, m, guidA, 16994)
	require.NoError(t, ch.SetReadDeadline(time.Now().Add(waitLimit)))
	b, err := io.ReadAll(ch)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	_, err = ch.Write([]byte("x"))
	assert.ErrorIs(t, err, cira.ErrPeerClosed)
}

func TestDropSeenAsDisconnect(t *testing.T) {
	m := startMPS(t, nil)
	accepted := make(chan net.Conn, 1)
	d := startDevice(t, m, deviceConfig(guidA, func(_ uint16, ch net.Conn) { accepted <- ch }))
	d.ready(t)
	require.Equal(t, "connect "+guidA.String(), m.event(t))
	ch := dial(t, m, guidA, 16994)
	devCh := <-accepted

	d.c.Drop()
	require.ErrorIs(t, d.result(t), cira.ErrLinkDown)
	assert.Equal(t, "disconnect "+guidA.String(), m.event(t))
	assert.False(t, m.srv.Connected(guidA))

	require.NoError(t, ch.SetReadDeadline(time.Now().Add(waitLimit)))
	_, err := ch.Read(make([]byte, 1))
	assert.ErrorIs(t, err, cira.ErrLinkDown, "MPS side channel fails")
	_, err = devCh.Read(make([]byte, 1))
	assert.ErrorIs(t, err, cira.ErrLinkDown, "device side channel fails")
	_ = devCh.Close()
}

func TestSecondLoginReplacesFirst(t *testing.T) {
	m := startMPS(t, nil)
	first := startDevice(t, m, deviceConfig(guidA, func(_ uint16, ch net.Conn) {
		_, _ = ch.Write([]byte("first"))
		_ = ch.Close()
	}))
	first.ready(t)
	require.Equal(t, "connect "+guidA.String(), m.event(t))

	second := startDevice(t, m, deviceConfig(guidA, func(_ uint16, ch net.Conn) {
		_, _ = ch.Write([]byte("second"))
		_ = ch.Close()
	}))
	second.ready(t)
	assert.Equal(t, "disconnect "+guidA.String(), m.event(t))
	assert.Equal(t, "connect "+guidA.String(), m.event(t))
	require.ErrorIs(t, first.result(t), cira.ErrLinkDown)
	assert.True(t, m.srv.Connected(guidA))

	ch := dial(t, m, guidA, 16994)
	require.NoError(t, ch.SetReadDeadline(time.Now().Add(waitLimit)))
	b, err := io.ReadAll(ch)
	require.NoError(t, err)
	assert.Equal(t, "second", string(b))
	assert.Empty(t, m.events, "the replaced link's end is not a second disconnect")
}

func TestServerDisconnect(t *testing.T) {
	m := startMPS(t, nil)
	d := startDevice(t, m, deviceConfig(guidA, echo))
	d.ready(t)
	require.Equal(t, "connect "+guidA.String(), m.event(t))
	m.srv.Disconnect(guidA)
	assert.False(t, m.srv.Connected(guidA))
	assert.Equal(t, "disconnect "+guidA.String(), m.event(t))
	require.ErrorIs(t, d.result(t), cira.ErrLinkDown)
}

func TestDeadlines(t *testing.T) {
	m := startMPS(t, nil)
	d := startDevice(t, m, deviceConfig(guidA, echo))
	d.ready(t)
	ch := dial(t, m, guidA, 16994)

	require.NoError(t, ch.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err := ch.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.True(t, isTimeout(err))

	// A deadline in the past fails at once; clearing it lets a blocked read go on.
	require.NoError(t, ch.SetDeadline(time.Now().Add(-time.Second)))
	_, err = ch.Write([]byte("x"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	readErr := make(chan error, 1)
	require.NoError(t, ch.SetReadDeadline(time.Now().Add(time.Hour)))
	go func() {
		b := make([]byte, 2)
		_, err := io.ReadFull(ch, b)
		if err == nil && string(b) != "ok" {
			err = errors.New("got " + string(b))
		}
		readErr <- err
	}()
	require.NoError(t, ch.SetDeadline(time.Time{}))
	_, err = ch.Write([]byte("ok"))
	require.NoError(t, err)
	select {
	case err := <-readErr:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("read did not finish")
	}

	// Moving the deadline wakes a blocked reader.
	go func() {
		_, err := ch.Read(make([]byte, 1))
		readErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, ch.SetReadDeadline(time.Now()))
	select {
	case err := <-readErr:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(waitLimit):
		t.Fatal("SetReadDeadline did not wake the reader")
	}
}

func TestKeepAliveHoldsIdleLink(t *testing.T) {
	m := startMPS(t, func(c *cira.ServerConfig) { c.IdleTimeout = 400 * time.Millisecond })
	cfg := deviceConfig(guidA, echo)
	cfg.KeepAliveInterval = 20 * time.Millisecond
	d := startDevice(t, m, cfg)
	d.ready(t)
	time.Sleep(1200 * time.Millisecond) // three idle timeouts
	assert.True(t, m.srv.Connected(guidA), "keep-alives hold the link")
	select {
	case err := <-d.done:
		t.Fatalf("link ended: %v", err)
	default:
	}
}

func TestIdleLinkDropped(t *testing.T) {
	m := startMPS(t, func(c *cira.ServerConfig) { c.IdleTimeout = 200 * time.Millisecond })
	cfg := deviceConfig(guidA, echo)
	cfg.KeepAliveInterval = time.Hour
	d := startDevice(t, m, cfg)
	d.ready(t)
	require.Equal(t, "connect "+guidA.String(), m.event(t))
	assert.Equal(t, "disconnect "+guidA.String(), m.event(t), "MPS drops a silent link")
	require.ErrorIs(t, d.result(t), cira.ErrLinkDown)
}

// TestKeepAliveOptionsAfter5900: forwarding 5900 makes MPS send KEEPALIVE_OPTIONS, whose
// interval the device then keeps (its own default would let the link idle out).
func TestKeepAliveOptionsAfter5900(t *testing.T) {
	m := startMPS(t, func(c *cira.ServerConfig) {
		c.IdleTimeout = 2500 * time.Millisecond
		c.KeepAliveInterval = time.Second
	})
	cfg := deviceConfig(guidA, echo)
	cfg.Ports = []uint16{16992, 16994, 5900}
	cfg.KeepAliveInterval = time.Hour
	d := startDevice(t, m, cfg)
	d.ready(t)
	time.Sleep(6 * time.Second)
	assert.True(t, m.srv.Connected(guidA), "negotiated 1 s keep-alives hold the link")
}

func TestRunContext(t *testing.T) {
	m := startMPS(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := cira.Dial(ctx, m.addr, m.client, deviceConfig(guidA, echo))
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	<-c.Ready()
	stop()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(waitLimit):
		t.Fatal("Run ignored its context")
	}
	require.NoError(t, c.Close())
}
