package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// machine stands in for a real machine whose screen changes mode (a BIOS going from text
// mode to graphics) and whose video link can drop: two test patterns of different sizes, one
// shown at a time, and a switch that cuts the connection and refuses new ones.
type machine struct {
	patterns [2]*testpattern.Source
	shown    atomic.Int32
	down     atomic.Bool
	cut      chan struct{} // closed to drop the live connection
	mu       sync.Mutex
}

func newMachine(t *testing.T, sizes [2][2]int) *machine {
	m := &machine{cut: make(chan struct{})}
	for i, sz := range sizes {
		p, err := testpattern.New(testpattern.Config{Width: sz[0], Height: sz[1], FPS: 15})
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		m.patterns[i] = p
	}
	return m
}

func (m *machine) current() *testpattern.Source { return m.patterns[m.shown.Load()] }

// Open is device.Source's: one connection to the machine, refused while it is down.
func (m *machine) Open(context.Context) (device.Conn, error) {
	if m.down.Load() {
		return device.Conn{}, errors.New("dial tcp 198.18.0.9:5900: connect: connection refused")
	}
	m.mu.Lock()
	cut := m.cut
	m.mu.Unlock()
	c := &machineConn{m: m, cut: cut}
	return device.Conn{Video: c, Input: c}, nil
}

func (m *machine) String() string { return "vnc://198.18.0.9:5900" }

func (m *machine) drop() {
	m.down.Store(true)
	m.mu.Lock()
	close(m.cut)
	m.cut = make(chan struct{})
	m.mu.Unlock()
}

type machineConn struct {
	m   *machine
	cut chan struct{}
}

func (c *machineConn) Next(ctx context.Context) (media.Frame, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.cut:
			cancel()
		case <-ctx.Done():
		}
	}()
	f, err := c.m.current().Next(ctx)
	select {
	case <-c.cut:
		return media.Frame{}, errors.New("read tcp: connection reset by peer")
	default:
	}
	return f, err
}

func (c *machineConn) Close() error                      { return nil }
func (c *machineConn) Key(u hid.Usage, down bool) error  { return c.m.current().Key(u, down) }
func (c *machineConn) Pointer(ev hid.PointerEvent) error { return c.m.current().Pointer(ev) }
func (c *machineConn) Refresh()                          { c.m.current().Refresh() }
func (c *machineConn) Size() (int, int)                  { return c.m.current().Size() }

var _ media.Refresher = (*machineConn)(nil)

// TestConsoleFollowsSourceChanges: in Chromium, a machine's screen changing size mid-session
// is followed without reconnecting (the stream reopens its encoder, the page rescales, the
// pointer maps onto the new size); when the machine's link drops, the console keeps getting
// pictures — the no-signal card, not a frozen frame — and the dashboard-facing health says
// why; when it comes back, the picture and the keyboard are back, still without reconnecting.
func TestConsoleFollowsSourceChanges(t *testing.T) {
	m := newMachine(t, [2][2]int{{720, 400}, {1024, 768}})
	s := newStack(t, stackOptions{source: m})
	ctx := testenv.Chromium(t)
	openConsole(t, ctx, s.link(t))
	pcID := `(document.querySelector("video").srcObject || {}).id || ""`
	firstPeer := mustJS[string](t, ctx, pcID)
	require.NotEmpty(t, firstPeer)
	waitJS(t, ctx, `document.querySelector("video").videoWidth === 720`, 10*time.Second, "text mode size")

	m.shown.Store(1)
	m.current().Refresh()
	waitJS(t, ctx, `document.querySelector("video").videoWidth === 1024 && document.querySelector("video").videoHeight === 768`, 10*time.Second, "the new size in the page")
	assert.Equal(t, "connected", mustJS[string](t, ctx, `window.kvm.state`), "the console never reconnected")
	assert.Equal(t, firstPeer, mustJS[string](t, ctx, pcID), "same peer connection")

	// The pointer maps onto the new size: the centre of the video is the centre of 1024×768.
	rect := mustJS[[]float64](t, ctx, `(() => { const r = document.querySelector("video").getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	cx, cy := rect[0]+rect[2]/2, rect[1]+rect[3]/2
	require.NoError(t, mouseMove(ctx, cx-30, cy-30))
	require.NoError(t, mouseMove(ctx, cx, cy))
	require.Eventually(t, func() bool {
		x, y, ok := m.current().PointerPosition()
		return ok && abs(x-512) <= 8 && abs(y-384) <= 8
	}, 5*time.Second, 10*time.Millisecond, "the pointer never reached the centre of the resized screen")
	shot(t, ctx, "resized")

	// The link drops: frames keep coming (the card), the picture is the card's dark grey.
	m.drop()
	frames := mustJS[int](t, ctx, `window.kvm.framesDecoded`)
	waitJS(t, ctx, fmt.Sprintf(`window.kvm.framesDecoded > %d + 4`, frames), 10*time.Second, "card frames while the source is down")
	waitJS(t, ctx, `(() => { const v = document.querySelector("video"); const c = document.createElement("canvas");
		c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext("2d"); g.drawImage(v, 0, 0);
		const p = g.getImageData(4, 4, 1, 1).data; return p[0] < 40 && p[1] < 40 && p[2] < 40 && Math.abs(p[0]-p[2]) < 8; })()`,
		10*time.Second, "the no-signal card's dark grey")
	assert.Equal(t, 1024, mustJS[int](t, ctx, `document.querySelector("video").videoWidth`), "the card keeps the size the console knows")
	shot(t, ctx, "no-signal")

	// It comes back: keys reach the machine again, same peer connection.
	m.down.Store(false)
	before := m.current().KeyDownCount()
	require.Eventually(t, func() bool {
		_ = press(ctx, letterA)
		return m.current().KeyDownCount() > before
	}, 15*time.Second, 300*time.Millisecond, "keys never reached the machine after it came back")
	assert.Equal(t, firstPeer, mustJS[string](t, ctx, pcID), "the console rode out the outage on its peer connection")
}

// mustJS evaluates expr or fails the test.
func mustJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := js[T](ctx, expr)
	require.NoError(t, err, expr)
	return v
}

// TestFirstChangeAgreesWithTheStrip: "input → first change" (the agent names the first frame
// that changed after a key-down's probe) is checked against the latency strip on the test
// pattern, where both can be measured. The frame whose strip shows a key is a frame that
// changed after that key's probe, so for every key the first change is presented no later
// than the strip shows it (give or take the one frame by which the strip reader can be ahead);
// on the test pattern, whose counter changes every frame, it is the next frame after the probe.
func TestFirstChangeAgreesWithTheStrip(t *testing.T) {
	s := newStack(t, stackOptions{width: 1280, height: 720, fps: 30})
	ctx := testenv.Chromium(t)
	openConsole(t, ctx, s.link(t))
	// Keys until both meters have 10 samples of the same keys (a meter may miss a key: the
	// strip's forgets one it cannot explain); at most 40.
	var first, strip map[float64]float64
	common := func() []float64 {
		var ts []float64
		for t := range first {
			if _, ok := strip[t]; ok {
				ts = append(ts, t)
			}
		}
		return ts
	}
	byKey := func(expr string) map[float64]float64 {
		m := map[float64]float64{}
		for _, p := range mustJS[[][2]float64](t, ctx, expr) {
			m[p[0]] = p[1]
		}
		return m
	}
	for i := 0; i < 40 && len(common()) < 10; i++ {
		require.NoError(t, press(ctx, letterA))
		time.Sleep(150 * time.Millisecond)
		first, strip = byKey(`window.kvm.firstChangeByKey`), byKey(`window.kvm.latencyByKey`)
	}
	keys := common()
	require.GreaterOrEqual(t, len(keys), 10, "keys measured by both meters")
	var firsts, strips []float64
	// The strip is read from the video element's current pixels in a frame's callback, which
	// may already hold the next frame (frames.js): then the strip sees a key up to one frame
	// (33 ms at 30 fps) before that frame's own callback, which is when "first change" counts it.
	const oneFrame = 1000.0 / 30
	for _, k := range keys {
		assert.LessOrEqual(t, first[k], strip[k]+oneFrame, "key at %.1f ms: the first change cannot come after the strip showed the key", k)
		firsts, strips = append(firsts, first[k]), append(strips, strip[k])
	}
	p50 := func(v []float64) float64 {
		c := append([]float64(nil), v...)
		sort.Float64s(c)
		return c[len(c)/2]
	}
	t.Logf("input → first change p50 %.1f ms, strip (key → screen) p50 %.1f ms, over %d keys", p50(firsts), p50(strips), len(keys))
	shot(t, ctx, "first-change")
}

// lights is an input device that reads the machine's keyboard LEDs back, as a USB gadget does.
type lights struct {
	mu      sync.Mutex
	leds    hid.LEDs
	changed chan struct{}
	keys    atomic.Int32
}

func (l *lights) Key(hid.Usage, bool) error      { l.keys.Add(1); return nil }
func (l *lights) Pointer(hid.PointerEvent) error { return nil }

func (l *lights) LEDs() (hid.LEDs, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leds, l.changed
}

func (l *lights) set(v hid.LEDs) {
	l.mu.Lock()
	l.leds = v
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// TestConsoleShowsKeyboardLights: an input device that reads the machine's keyboard LEDs back
// (a USB gadget) has them shown in the console's toolbar, and followed as they change.
func TestConsoleShowsKeyboardLights(t *testing.T) {
	l := &lights{leds: hid.LEDNumLock, changed: make(chan struct{})}
	s := newStack(t, stackOptions{width: 640, height: 360, fps: 15, input: l})
	ctx := testenv.Chromium(t)
	openConsole(t, ctx, s.link(t))
	led := func(name string) string {
		return fmt.Sprintf(`document.querySelector('#leds [data-led=%q]').dataset.on`, name)
	}
	waitJS(t, ctx, `!document.getElementById("leds").hidden && `+led("num")+` === "true" && `+led("caps")+` === "false"`, 10*time.Second, "Num Lock lit")
	l.set(hid.LEDNumLock | hid.LEDCapsLock)
	waitJS(t, ctx, led("caps")+` === "true"`, 10*time.Second, "Caps Lock lit")
	require.NoError(t, press(ctx, letterA))
	require.Eventually(t, func() bool { return l.keys.Load() >= 2 }, 5*time.Second, 10*time.Millisecond, "keys reach the input device, not the source")
}
