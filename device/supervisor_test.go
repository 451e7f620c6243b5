package device_test

import (
	"context"
	"errors"
	"image"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeVideo is a connection's video: it hands out frames pushed on frames, and fails with
// the error sent on fail.
type fakeVideo struct {
	frames chan media.Frame
	fail   chan error
	closed chan struct{}
	once   sync.Once
	keys   atomic.Int32
}

func newFakeVideo() *fakeVideo {
	return &fakeVideo{frames: make(chan media.Frame, 4), fail: make(chan error, 1), closed: make(chan struct{})}
}

func (v *fakeVideo) Next(ctx context.Context) (media.Frame, error) {
	select {
	case <-ctx.Done():
		return media.Frame{}, ctx.Err()
	case <-v.closed:
		return media.Frame{}, media.ErrClosed
	case err := <-v.fail:
		return media.Frame{}, err
	case f := <-v.frames:
		return f, nil
	}
}

func (v *fakeVideo) Close() error { v.once.Do(func() { close(v.closed) }); return nil }

func (v *fakeVideo) Key(hid.Usage, bool) error      { v.keys.Add(1); return nil }
func (v *fakeVideo) Pointer(hid.PointerEvent) error { return nil }

// fakeSource fails with refuse when it is set; otherwise it opens the connections queued on
// conns, waiting (as a dial that hangs) until one is queued.
type fakeSource struct {
	mu     sync.Mutex
	conns  []*fakeVideo
	added  chan struct{} // closed and replaced when a connection is queued
	refuse error
	opens  atomic.Int32
}

func (s *fakeSource) Open(ctx context.Context) (device.Conn, error) {
	s.opens.Add(1)
	for {
		s.mu.Lock()
		if s.refuse != nil {
			s.mu.Unlock()
			return device.Conn{}, s.refuse
		}
		if len(s.conns) > 0 {
			v := s.conns[0]
			s.conns = s.conns[1:]
			s.mu.Unlock()
			return device.Conn{Video: v, Input: v}, nil
		}
		if s.added == nil {
			s.added = make(chan struct{})
		}
		added := s.added
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return device.Conn{}, ctx.Err()
		case <-added:
		}
	}
}

func (s *fakeSource) String() string { return "fake://machine" }

func (s *fakeSource) add(v *fakeVideo) {
	s.mu.Lock()
	s.conns = append(s.conns, v)
	if s.added != nil {
		close(s.added)
		s.added = nil
	}
	s.mu.Unlock()
}

func frameOf(w, h int) media.Frame {
	return media.Frame{Image: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420), CaptureTime: time.Now()}
}

func startSupervisor(t *testing.T, src device.Source) (*device.Supervisor, context.Context) {
	t.Helper()
	sup := device.NewSupervisor(device.SupervisorConfig{
		Source: src, RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		CardInterval: 10 * time.Millisecond, Width: 640, Height: 360,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return sup, ctx
}

func waitState(t *testing.T, sup *device.Supervisor, want device.State) device.Health {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		changed := sup.Changed()
		if h := sup.Health(); h.State == want {
			return h
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("source never became %s; health %+v", want, sup.Health())
		}
	}
}

// A source that fails shows the card (not a frozen frame) at the size consoles last saw,
// reports no-signal with the reason, and is reopened; frames then flow again.
func TestSupervisorReopensAFailedSourceAndShowsTheCardMeanwhile(t *testing.T) {
	first, second := newFakeVideo(), newFakeVideo()
	src := &fakeSource{}
	src.add(first)
	sup, ctx := startSupervisor(t, src)
	waitState(t, sup, device.StateLive)

	first.frames <- frameOf(1024, 768)
	f, err := sup.Next(ctx)
	require.NoError(t, err)
	w, h := f.Size()
	assert.Equal(t, [2]int{1024, 768}, [2]int{w, h})
	require.NoError(t, sup.Input().Key(4, true), "input reaches the live connection")
	assert.EqualValues(t, 1, first.keys.Load())

	first.fail <- errors.New("read tcp: connection reset by peer")
	f, err = sup.Next(ctx)
	require.NoError(t, err)
	w, h = f.Size()
	assert.Equal(t, [2]int{1024, 768}, [2]int{w, h}, "the card keeps the size consoles know")
	health := waitState(t, sup, device.StateNoSignal)
	assert.Contains(t, health.Error, "connection reset by peer")
	assert.Equal(t, "fake://machine", health.Source)
	require.ErrorIs(t, sup.Input().Key(4, true), device.ErrNoSignal)

	src.add(second)
	waitState(t, sup, device.StateLive)
	second.frames <- frameOf(800, 600)
	for {
		f, err = sup.Next(ctx)
		require.NoError(t, err)
		if w, h := f.Size(); w == 800 && h == 600 {
			break
		}
	}
	assert.Equal(t, 1, sup.Health().Reconnects)
	select {
	case <-first.closed:
	default:
		t.Fatal("the failed connection was not closed")
	}
}

// A source that cannot be reached is retried with backoff, the card says what happened.
func TestSupervisorRetriesAnUnreachableSource(t *testing.T) {
	src := &fakeSource{refuse: errors.New("dial tcp 10.0.0.5:5900: i/o timeout")}
	sup, ctx := startSupervisor(t, src)
	health := waitState(t, sup, device.StateNoSignal)
	assert.Contains(t, health.Error, "i/o timeout")
	f, err := sup.Next(ctx)
	require.NoError(t, err)
	w, h := f.Size()
	assert.Equal(t, [2]int{640, 360}, [2]int{w, h}, "before any frame, the configured size")
	for src.opens.Load() < 3 {
		_, err := sup.Next(ctx)
		require.NoError(t, err)
	}
}

// Watched connections that die while nobody pulls frames are noticed too.
type watchedVideo struct {
	*fakeVideo
	done chan struct{}
}

func (w watchedVideo) Done() <-chan struct{} { return w.done }

// Err says why, once Done is closed (device.Failed).
func (w watchedVideo) Err() error {
	select {
	case <-w.done:
		return errors.New("stopped delivering frames for 5s")
	default:
		return nil
	}
}

type watchedSource struct {
	fakeSource
	conn watchedVideo
	used atomic.Bool
}

func (s *watchedSource) Open(ctx context.Context) (device.Conn, error) {
	if s.used.Swap(true) {
		return device.Conn{}, errors.New("gone")
	}
	return device.Conn{Video: s.conn}, nil
}

func TestSupervisorNoticesAnIdleConnectionDying(t *testing.T) {
	src := &watchedSource{conn: watchedVideo{fakeVideo: newFakeVideo(), done: make(chan struct{})}}
	sup, _ := startSupervisor(t, src)
	waitState(t, sup, device.StateLive)
	require.ErrorIs(t, sup.Input().Key(4, true), device.ErrNoInput, "a source without input")
	close(src.conn.done)
	health := waitState(t, sup, device.StateNoSignal)
	assert.Contains(t, health.Error, "stopped delivering frames for 5s", "the reason the connection gave")
}

// onDemandSource is a fakeSource that connects only while watched (an AMT machine).
type onDemandSource struct {
	*fakeSource
	linger time.Duration
}

func (s onDemandSource) Linger() time.Duration { return s.linger }

// An on-demand source stays unconnected (standby) until a console holds it, stays connected
// through a release followed by a quick re-acquire (within its linger), disconnects once
// nobody held it for the linger, and connects again for the next console. An attempt that
// waits (a consent prompt) is abandoned when its console leaves.
func TestSupervisorConnectsAnOnDemandSourceOnlyWhileWatched(t *testing.T) {
	src := onDemandSource{fakeSource: &fakeSource{}, linger: 300 * time.Millisecond}
	sup, _ := startSupervisor(t, src)
	waitState(t, sup, device.StateStandby)
	assert.Equal(t, int32(0), src.opens.Load(), "nobody watches: no connection attempt")

	first := newFakeVideo()
	src.add(first)
	release := sup.Acquire()
	waitState(t, sup, device.StateLive)
	release()
	again := sup.Acquire() // a console reopened at once keeps the connection
	time.Sleep(3 * src.linger)
	assert.Equal(t, device.StateLive, sup.Health().State, "held again within the linger")
	assert.Equal(t, int32(1), src.opens.Load())
	again()
	waitState(t, sup, device.StateStandby)
	select {
	case <-first.closed:
	default:
		t.Fatal("the connection was not closed when nobody watched it")
	}

	// An attempt that waits for long (no connection queued) is abandoned when its only
	// console leaves, and the supervisor goes back to standby without retrying.
	release = sup.Acquire()
	waitState(t, sup, device.StateConnecting)
	require.Eventually(t, func() bool { return src.opens.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
	release()
	waitState(t, sup, device.StateStandby)
	time.Sleep(3 * src.linger)
	assert.Equal(t, int32(2), src.opens.Load(), "no attempt without a console")

	second := newFakeVideo()
	src.add(second)
	release = sup.Acquire()
	defer release()
	waitState(t, sup, device.StateLive)
	second.frames <- frameOf(64, 48)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		f, err := sup.Next(ctx)
		require.NoError(t, err)
		if w, _ := f.Size(); w == 64 {
			break
		}
	}
}
