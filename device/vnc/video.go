package vnc

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// Video is an open VNC connection's picture: a damage-driven media.Source. One goroutine
// reads the server's messages, draws them into the client's framebuffer and converts the
// damaged rectangles into a persistent I420 picture; Next copies what changed since the last
// frame into the picture it hands out and draws the remote cursor on it.
//
// It keeps one incremental update request outstanding ahead of the server (sent when an
// update starts to arrive, not after it was drawn), so a change on the screen is sent
// without waiting for a round trip. When nobody called Next for IdleAfter it stops asking,
// and the server sends nothing; the next Next asks again.
type Video struct {
	client *rfb.Client
	conn   net.Conn
	log    *slog.Logger
	repeat time.Duration // the steady frame interval: an unchanged picture is handed out again
	idle   time.Duration

	done    chan struct{} // closed when the reader ends
	readErr error         // why it ended; set before done closes
	once    sync.Once

	mu         sync.Mutex
	cur        *image.YCbCr // the framebuffer in I420, kept up to date by the reader
	out        *image.YCbCr // the picture Next hands out
	pending    []image.Rectangle
	fullCopy   bool
	dirty      bool          // something for Next: damage, a cursor move or shape
	changed    chan struct{} // closed and replaced when dirty becomes true
	captured   time.Time
	lastFrame  time.Time
	lastNext   time.Time
	paused     bool
	closed     bool
	shape      *cursorShape
	pointer    image.Point
	pointerSet bool
	drawn      image.Rectangle // where the cursor is drawn on out
	inputSeq   uint64          // of the last input event sent
	seenSeq    uint64          // the last inputSeq a frame reported
	afterInput uint64
	updates    uint64
}

// videoConfig tunes a Video; zero fields take defaults.
type videoConfig struct {
	FPS       int
	IdleAfter time.Duration
	Logger    *slog.Logger
}

// IdleAfter is how long without a call to Next before the connection stops asking the server
// for updates.
const IdleAfter = time.Second

func newVideo(client *rfb.Client, conn net.Conn, cfg videoConfig) *Video {
	if cfg.FPS <= 0 {
		cfg.FPS = media.DefaultFPS
	}
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = IdleAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := &Video{
		client: client, conn: conn, log: cfg.Logger,
		repeat: time.Second / time.Duration(cfg.FPS), idle: cfg.IdleAfter,
		done: make(chan struct{}), changed: make(chan struct{}), lastNext: time.Now(),
	}
	w, h := client.Size()
	v.cur = newI420(w, h)
	return v
}

// start sends the first requests (the whole picture, and one incremental request ahead)
// and starts the reader.
func (v *Video) start() error {
	if err := v.client.RequestFull(false); err != nil {
		return err
	}
	if err := v.client.RequestFull(true); err != nil {
		return err
	}
	go v.read()
	return nil
}

func (v *Video) read() {
	defer close(v.done)
	for {
		ev, err := v.client.ReadMessageFunc(v.updateStarts)
		if err != nil {
			v.readErr = err
			return
		}
		switch ev.Kind {
		case rfb.EventUpdate:
			v.apply(ev)
			if ev.Resized {
				// The server sends the new picture; asking for all of it again also makes
				// the outstanding incremental request cover the new size.
				if err := v.client.RequestFull(false); err != nil {
					v.readErr = err
					return
				}
			}
		case rfb.EventBell, rfb.EventCutText, rfb.EventColourMap:
			// Nothing to show.
		}
	}
}

// updateStarts asks for the next update as this one starts to arrive, unless nobody pulls
// frames any more.
func (v *Video) updateStarts() {
	v.mu.Lock()
	idle := time.Since(v.lastNext) > v.idle
	v.paused = idle
	v.mu.Unlock()
	if !idle {
		_ = v.client.RequestFull(true) // a write error shows up on the next read
	}
}

// apply converts an update's damage into the persistent picture.
func (v *Video) apply(ev rfb.Event) {
	fb := v.client.Framebuffer()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.updates++
	if ev.Resized || v.cur.Rect != evenRect(fb.Rect) {
		v.cur = newI420(fb.Rect.Dx(), fb.Rect.Dy())
		convertRGBA(v.cur, fb, v.cur.Rect)
		v.fullCopy = true
		v.pending = v.pending[:0]
	} else if !v.fullCopy {
		for _, r := range ev.Damage {
			convertRGBA(v.cur, fb, r)
			v.pending = append(v.pending, evenRect(r))
		}
		if len(v.pending) > 256 {
			v.fullCopy, v.pending = true, v.pending[:0]
		}
	} else {
		for _, r := range ev.Damage {
			convertRGBA(v.cur, fb, r)
		}
	}
	if ev.CursorChanged {
		v.shape = newCursorShape(v.client.Cursor())
	}
	if len(ev.Damage) > 0 || ev.Resized || ev.CursorChanged {
		if v.inputSeq > v.seenSeq {
			v.afterInput, v.seenSeq = v.inputSeq, v.inputSeq
		}
		v.markLocked()
	}
}

// markLocked records that Next has something new.
func (v *Video) markLocked() {
	v.captured = time.Now()
	if !v.dirty {
		v.dirty = true
		close(v.changed)
		v.changed = make(chan struct{})
	}
}

// Next returns a frame as soon as the picture changed (or the pointer moved over it), or
// the unchanged picture again after the steady frame interval.
func (v *Video) Next(ctx context.Context) (media.Frame, error) {
	v.mu.Lock()
	v.lastNext = time.Now()
	resume := v.paused
	v.paused = false
	v.mu.Unlock()
	if resume {
		if err := v.client.RequestFull(true); err != nil {
			return media.Frame{}, fmt.Errorf("vnc: %w", err)
		}
	}
	for {
		v.mu.Lock()
		switch {
		case v.closed:
			v.mu.Unlock()
			return media.Frame{}, media.ErrClosed
		case v.dirty:
			f := v.frameLocked(v.captured)
			v.mu.Unlock()
			return f, nil
		}
		changed, last, have := v.changed, v.lastFrame, v.out != nil
		v.mu.Unlock()
		var tick <-chan time.Time
		var t *time.Timer
		if have {
			t = time.NewTimer(time.Until(last.Add(v.repeat)))
			tick = t.C
		}
		f, ok, err := v.wait(ctx, changed, tick)
		if t != nil {
			t.Stop()
		}
		if ok {
			return f, err
		}
	}
}

// wait waits for a change, the steady tick, the end of the connection or ctx; ok is false
// when Next should look again.
func (v *Video) wait(ctx context.Context, changed <-chan struct{}, tick <-chan time.Time) (f media.Frame, ok bool, err error) {
	select {
	case <-ctx.Done():
		return media.Frame{}, true, ctx.Err()
	case <-v.done:
		select {
		case <-changed:
			return media.Frame{}, false, nil // draw what arrived before the end
		default:
		}
		return media.Frame{}, true, v.endErr()
	case <-changed:
	case <-tick:
		v.mu.Lock()
		defer v.mu.Unlock()
		if !v.dirty && !v.closed {
			return v.frameLocked(time.Now()), true, nil
		}
	}
	return media.Frame{}, false, nil
}

// frameLocked brings out up to date with cur and the cursor.
func (v *Video) frameLocked(captured time.Time) media.Frame {
	if v.out == nil || v.out.Rect != v.cur.Rect {
		v.out = newI420(v.cur.Rect.Dx(), v.cur.Rect.Dy())
		v.fullCopy = true
	}
	if v.fullCopy {
		copy(v.out.Y, v.cur.Y)
		copy(v.out.Cb, v.cur.Cb)
		copy(v.out.Cr, v.cur.Cr)
	} else {
		for _, r := range v.pending {
			copyI420(v.out, v.cur, r)
		}
		copyI420(v.out, v.cur, v.drawn)
	}
	v.drawn = image.Rectangle{}
	if v.shape != nil && v.pointerSet {
		v.shape.draw(v.out, v.pointer)
		v.drawn = v.shape.bounds(v.pointer).Intersect(v.out.Rect)
	}
	v.pending, v.fullCopy, v.dirty = v.pending[:0], false, false
	v.lastFrame = time.Now()
	f := media.Frame{Image: v.out, CaptureTime: captured, AfterInput: v.afterInput}
	v.afterInput = 0
	return f
}

// endErr is the error Next returns once the connection is gone.
func (v *Video) endErr() error {
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		return media.ErrClosed
	}
	return fmt.Errorf("vnc: connection lost: %w", v.readErr)
}

// Refresh asks the server for the whole picture at once: a new viewer needs a keyframe.
func (v *Video) Refresh() {
	if err := v.client.RequestFull(false); err != nil {
		v.log.Debug("vnc: refresh request", "err", err)
	}
}

// Done is closed when the connection ended.
func (v *Video) Done() <-chan struct{} { return v.done }

// Err says why the connection ended (device.Failed); nil while it lives. readErr is written
// before done closes, so reading it after is safe.
func (v *Video) Err() error {
	select {
	case <-v.done:
		if v.readErr != nil {
			// The supervisor says "connection lost" already: the reason follows it once.
			return fmt.Errorf("vnc: %w", v.readErr)
		}
	default:
	}
	return nil
}

// Size is the frames' size: the framebuffer's, rounded up to even for 4:2:0.
func (v *Video) Size() (width, height int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur.Rect.Dx(), v.cur.Rect.Dy()
}

// Cursor is the remote cursor's shape (nil image before the server sent one) and where the
// agent last put the pointer, in framebuffer pixels.
func (v *Video) Cursor() (shape rfb.Cursor, pointer image.Point, known bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.shape != nil {
		shape = v.shape.rfb
	}
	return shape, v.pointer, v.pointerSet
}

// Updates counts the framebuffer updates received.
func (v *Video) Updates() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.updates
}

// BytesRead is how many bytes the server sent.
func (v *Video) BytesRead() int64 { return v.client.BytesRead() }

// pointerMoved records where the agent put the pointer and, when a cursor shape is drawn,
// makes the next frame show it there.
func (v *Video) pointerMoved(p image.Point) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.pointerSet && p == v.pointer {
		return
	}
	v.pointer, v.pointerSet = p, true
	if v.shape != nil && v.out != nil {
		v.markLocked()
	}
}

// inputSent counts an input event, for Frame.AfterInput.
func (v *Video) inputSent() {
	v.mu.Lock()
	v.inputSeq++
	v.mu.Unlock()
}

// Close ends the connection and waits for the reader.
func (v *Video) Close() error {
	v.once.Do(func() {
		v.mu.Lock()
		v.closed = true
		v.mu.Unlock()
		_ = v.conn.Close()
	})
	<-v.done
	return nil
}

// errEnded is returned by input after the connection ended.
var errEnded = errors.New("vnc: connection closed")
