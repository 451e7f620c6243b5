//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

// maxBadFrames is how many frames in a row may be unreadable (truncated, corrupt JPEG) before
// the capture gives up: one is noise, a run is a device sending what kvmrelay cannot read.
const maxBadFrames = 30

// capture is one open stream from a node: a media.Source. Next and Close may run in different
// goroutines; mu keeps Close's teardown from pulling the buffers from under Next.
type capture struct {
	cfg     Config
	dev     vdev
	monoNow func() time.Duration

	mu        sync.Mutex
	closed    atomic.Bool
	keyframe  atomic.Bool // RequestKeyframe was called
	width     atomic.Int32
	height    atomic.Int32
	bufType   uint32
	card      string
	driver    string
	dv        bool // an HDMI bridge: its input's timings set the size
	events    bool // subscribed to source changes
	layout    layout
	allocated bool
	streaming bool
	bufs      []mapped
	buf       v4l2Buffer           // scratch for QBUF/DQBUF
	planes    [maxPlanes]v4l2Plane // scratch plane array of multi-planar buffers
	img       *image.YCbCr
	jpeg      JPEGDecoder
	pending   *media.Frame // the first frame, taken by Open
	cut       bool         // the next frame follows a restart at a new size
	bad       int          // unreadable frames in a row
	lastErr   error        // why the last bad frame was dropped
}

var _ media.Source = (*capture)(nil)

// start opens a capture on dev: it negotiates, starts streaming and waits for the first frame,
// so that a device with no signal never counts as connected. dev is closed on failure.
func start(ctx context.Context, dev vdev, cfg Config, monoNow func() time.Duration) (*capture, error) {
	c := &capture{cfg: cfg, dev: dev, monoNow: monoNow}
	err := c.queryCap()
	if err == nil {
		err = c.configure()
	}
	if err == nil {
		c.events = c.subscribeSourceChange()
		err = c.startStreaming()
	}
	if err == nil {
		var f media.Frame
		f, err = c.next(ctx)
		c.pending = &f
	}
	if err != nil {
		c.teardown()
		return nil, err
	}
	c.logger().Info("capture started", "card", c.card, "driver", c.driver, "hdmi_bridge", c.dv, "source_change_events", c.events)
	return c, nil
}

func (c *capture) logger() *slog.Logger { return c.cfg.Logger.With("device", c.cfg.Path) }

// configure picks and sets the format: on an HDMI bridge at its input's timings, elsewhere
// from what the device enumerates.
func (c *capture) configure() error {
	w := wantOf(c.cfg)
	t, isDV, err := c.setupDV()
	if err != nil {
		return err
	}
	c.dv = isDV
	var dv *dvTimings
	if isDV {
		dv = &t
		if w.width > 0 && (w.width != t.w || w.height != t.h) {
			c.logger().Warn("the HDMI input sets the size; ignoring the spec's", "input", fmt.Sprintf("%dx%d", t.w, t.h), "spec", fmt.Sprintf("%dx%d", w.width, w.height))
		}
		w.width, w.height = 0, 0
	}
	modes, err := c.enumerate(w, dv)
	if err != nil {
		return err
	}
	ch, err := choose(modes, w)
	if err != nil {
		return err
	}
	if err := c.setFormat(ch); err != nil {
		return err
	}
	c.setPeriod(ch.period)
	c.width.Store(int32(c.layout.w &^ 1))
	c.height.Store(int32(c.layout.h &^ 1))
	return nil
}

// Size reports the picture size negotiated (Sized): known before the first frame.
func (c *capture) Size() (width, height int) { return int(c.width.Load()), int(c.height.Load()) }

// Next returns the newest captured frame: older ones still queued are dropped, so a slow
// consumer sees the present, not a backlog.
func (c *capture) Next(ctx context.Context) (media.Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		f := *c.pending
		c.pending = nil
		return f, nil
	}
	return c.next(ctx)
}

// next waits for a frame; c.mu is held (or the capture not yet shared).
func (c *capture) next(ctx context.Context) (media.Frame, error) {
	stop := context.AfterFunc(ctx, c.dev.wake)
	defer stop()
	deadline := c.cfg.Clock.Now().Add(c.cfg.NoSignalTimeout)
	for {
		if c.closed.Load() {
			return media.Frame{}, media.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return media.Frame{}, err
		}
		if c.keyframe.Swap(false) {
			c.forceKeyframe()
		}
		left := deadline.Sub(c.cfg.Clock.Now())
		if left <= 0 {
			if c.lastErr != nil {
				return media.Frame{}, fmt.Errorf("v4l2: no readable frame for %v: %w", c.cfg.NoSignalTimeout, c.lastErr)
			}
			if c.dv {
				return media.Frame{}, ErrNoSignal
			}
			return media.Frame{}, fmt.Errorf("%w: no frame for %v", ErrNoSignal, c.cfg.NoSignalTimeout)
		}
		r, err := c.dev.poll(left)
		if err != nil {
			return media.Frame{}, err
		}
		if r.event {
			restarted, err := c.handleEvents()
			if err != nil {
				return media.Frame{}, err
			}
			if restarted {
				deadline = c.cfg.Clock.Now().Add(c.cfg.NoSignalTimeout)
				continue
			}
		}
		if !r.frame && !r.hangup {
			continue
		}
		f, ok, err := c.takeNewest()
		if err != nil {
			return media.Frame{}, err
		}
		if ok {
			return f, nil
		}
		if r.hangup {
			return media.Frame{}, errors.New("v4l2: the capture stopped: the device was unplugged or its driver failed")
		}
	}
}

// takeNewest dequeues every done buffer, requeues all but the newest at once, turns the
// newest into a frame and requeues it too: no driver buffer is held across calls. ok is
// false when there was nothing usable.
func (c *capture) takeNewest() (media.Frame, bool, error) {
	var newest *done
	for range len(c.bufs) + 1 {
		d, err := c.dequeue()
		if errors.Is(err, errNoBuffer) {
			break
		}
		if err != nil {
			return media.Frame{}, false, err
		}
		if newest != nil {
			if err := c.queue(newest.index); err != nil {
				return media.Frame{}, false, err
			}
		}
		if d.flags&bufFlagError != 0 || len(d.data) == 0 || len(d.data[0]) == 0 {
			newest = nil
			if err := c.queue(d.index); err != nil {
				return media.Frame{}, false, err
			}
			continue
		}
		newest = &d
	}
	if newest == nil {
		return media.Frame{}, false, nil
	}
	f, ferr := c.frame(newest)
	if err := c.queue(newest.index); err != nil {
		return media.Frame{}, false, err
	}
	if ferr != nil {
		c.bad++
		c.lastErr = ferr
		if c.bad >= maxBadFrames {
			return media.Frame{}, false, fmt.Errorf("v4l2: %d unreadable frames in a row: %w", c.bad, ferr)
		}
		return media.Frame{}, false, nil
	}
	c.bad, c.lastErr = 0, nil
	f.Cut, c.cut = c.cut, false
	return f, true, nil
}

// frame makes a frame of a dequeued buffer, reading the driver's memory before it is
// requeued.
func (c *capture) frame(d *done) (media.Frame, error) {
	at := c.captureTime(d)
	switch formatOf(c.layout.fcc) {
	case FormatH264:
		data := append([]byte(nil), d.data[0]...)
		key := d.flags&bufFlagKeyframe != 0 || hasIDR(data)
		return media.Frame{CaptureTime: at, Encoded: &media.EncodedFrame{Codec: media.CodecH264, Data: data, Keyframe: key, CaptureTime: at}}, nil
	case FormatMJPEG:
		if c.jpeg == nil {
			c.jpeg = c.cfg.NewJPEGDecoder()
		}
		img, err := c.jpeg.Decode(d.data[0])
		if err != nil {
			return media.Frame{}, err
		}
		if w, h := img.Rect.Dx(), img.Rect.Dy(); (w > 1 && w%2 != 0) || (h > 1 && h%2 != 0) {
			img = img.SubImage(image.Rect(img.Rect.Min.X, img.Rect.Min.Y, img.Rect.Min.X+w&^1, img.Rect.Min.Y+h&^1)).(*image.YCbCr)
		}
		return media.Frame{Image: img, CaptureTime: at}, nil
	}
	img, err := c.layout.toI420(c.img, d.data)
	if err != nil {
		return media.Frame{}, err
	}
	c.img = img
	return media.Frame{Image: img, CaptureTime: at}, nil
}

// hasIDR reports whether an Annex-B access unit holds an IDR slice.
func hasIDR(au []byte) bool {
	for _, nal := range h264.SplitAnnexB(au) {
		if h264.NALType(nal) == h264.NALIDRSlice {
			return true
		}
	}
	return false
}

// captureTime turns the driver's monotonic timestamp into wall time; buffers with other or
// implausible timestamps (zero, in the future, more than a second old) get the time now.
func (c *capture) captureTime(d *done) time.Time {
	now := c.cfg.Clock.Now()
	if d.flags&bufFlagTimestampMask != bufFlagTimestampMonotonic || (d.sec == 0 && d.ns == 0) {
		return now
	}
	age := c.monoNow() - (time.Duration(d.sec)*time.Second + time.Duration(d.ns))
	if age < 0 || age > time.Second {
		return now
	}
	return now.Add(-age)
}

// handleEvents drains pending events; a source change (the HDMI input switched resolution)
// restarts streaming at the new size.
func (c *capture) handleEvents() (restarted bool, err error) {
	change := false
	for range 16 {
		var ev v4l2Event
		if err := c.dev.ioctl(vidiocDqevent, unsafe.Pointer(&ev)); err != nil {
			if isErrno(err, unix.ENOENT, unix.EAGAIN) {
				break
			}
			return false, fmt.Errorf("v4l2: VIDIOC_DQEVENT: %w", err)
		}
		if ev.Type == eventSourceChange && *(*uint32)(unsafe.Pointer(&ev.U[0]))&eventSrcChResolution != 0 {
			change = true
		}
	}
	if !change {
		return false, nil
	}
	old := fmt.Sprintf("%dx%d", c.layout.w, c.layout.h)
	c.stopStreaming()
	if err := c.configure(); err != nil {
		return false, fmt.Errorf("v4l2: after the HDMI input changed: %w", err)
	}
	if err := c.startStreaming(); err != nil {
		return false, fmt.Errorf("v4l2: after the HDMI input changed: %w", err)
	}
	c.cut = true
	c.logger().Info("HDMI input changed resolution; capture restarted", "from", old, "to", fmt.Sprintf("%dx%d", c.layout.w, c.layout.h))
	return true, nil
}

// forceKeyframe asks an H.264 device for a keyframe; devices without the control ignore it.
func (c *capture) forceKeyframe() {
	ctrl := v4l2Control{ID: cidMPEGVideoForceKeyFrame}
	if err := c.dev.ioctl(vidiocSCtrl, unsafe.Pointer(&ctrl)); err != nil {
		c.logger().Debug("the device cannot force a keyframe", "err", err)
	}
}

// Close stops streaming and closes the device. It interrupts a Next in progress.
func (c *capture) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.dev.wake()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.teardown()
}

func (c *capture) teardown() error {
	c.stopStreaming()
	if c.jpeg != nil {
		c.jpeg.Close()
		c.jpeg = nil
	}
	return c.dev.close()
}

// encodedCapture is a capture of H.264: a media.EncodedSource.
type encodedCapture struct{ *capture }

var _ media.EncodedSource = encodedCapture{}

func (encodedCapture) Codec() media.Codec { return media.CodecH264 }

// RequestKeyframe asks the device for a keyframe before the next frame (any goroutine).
func (e encodedCapture) RequestKeyframe() { e.keyframe.Store(true) }
