package amtrfb

import (
	"context"
	"fmt"
	"image"
	"net"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// VNCScreen is a Screen read from a real VNC server through rfb.Client at 32 bpp: the
// simulator's pixels come from x11vnc or QEMU, and its keys and pointer go back there.
type VNCScreen struct {
	notifier
	conn   net.Conn
	client *rfb.Client

	mu  sync.Mutex
	img *image.RGBA
}

// DialVNC connects to the VNC server at addr (security None or VNC password) and runs the
// handshake within ctx. Call Run to start reading the picture.
func DialVNC(ctx context.Context, addr, password string) (*VNCScreen, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("amtrfb: connect to VNC server %s: %w", addr, err)
	}
	s, err := NewVNCScreen(ctx, conn, password)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

// NewVNCScreen runs the RFB handshake over conn within ctx; the VNCScreen owns conn from
// here (Run closes it).
func NewVNCScreen(ctx context.Context, conn net.Conn, password string) (*VNCScreen, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("amtrfb: VNC handshake: %w", err)
	}
	// NoCursor: the server draws the pointer into the picture, as AMT's capture shows it.
	client, err := rfb.NewClient(writeDeadline{conn}, rfb.Config{Password: password, NoCursor: true})
	if err != nil {
		return nil, fmt.Errorf("amtrfb: VNC handshake: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("amtrfb: VNC handshake: %w", err)
	}
	w, h := client.Size()
	return &VNCScreen{conn: conn, client: client, img: image.NewRGBA(image.Rect(0, 0, w, h))}, nil
}

// Run reads the VNC server's updates into the picture until ctx ends (nil) or the
// connection fails; it closes the connection when it returns.
func (s *VNCScreen) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.Close() })
	defer stop()
	defer s.conn.Close()
	if err := s.client.RequestFull(false); err != nil {
		return s.ended(ctx, err)
	}
	for {
		ev, err := s.client.ReadMessageFunc(func() { _ = s.client.RequestFull(true) })
		if err != nil {
			return s.ended(ctx, err)
		}
		if ev.Kind != rfb.EventUpdate {
			continue
		}
		s.apply(ev)
		if ev.Resized {
			if err := s.client.RequestFull(false); err != nil {
				return s.ended(ctx, err)
			}
		}
	}
}

func (s *VNCScreen) ended(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("amtrfb: VNC server connection: %w", err)
}

// apply copies the damaged rectangles of the client's framebuffer into the shared picture.
func (s *VNCScreen) apply(ev rfb.Event) {
	fb := s.client.Framebuffer()
	s.mu.Lock()
	if ev.Resized || s.img.Rect != fb.Rect {
		s.img = snapshot(nil, fb)
	} else {
		for _, r := range ev.Damage {
			r = r.Intersect(fb.Rect)
			for y := r.Min.Y; y < r.Max.Y; y++ {
				o := fb.PixOffset(r.Min.X, y)
				copy(s.img.Pix[o:o+4*r.Dx()], fb.Pix[o:o+4*r.Dx()])
			}
		}
	}
	s.mu.Unlock()
	s.notify()
}

// Snapshot implements Screen.
func (s *VNCScreen) Snapshot(dst *image.RGBA) *image.RGBA {
	s.mu.Lock()
	defer s.mu.Unlock()
	return snapshot(dst, s.img)
}

// KeyEvent implements Screen: the key goes to the VNC server.
func (s *VNCScreen) KeyEvent(keysym uint32, down bool) error {
	return s.client.KeyEvent(keysym, down)
}

// PointerEvent implements Screen: the pointer goes to the VNC server.
func (s *VNCScreen) PointerEvent(mask uint8, x, y int) error {
	return s.client.PointerEvent(mask, x, y)
}

// writeDeadline bounds each write to the VNC server, so input to a stuck server fails
// instead of blocking the session.
type writeDeadline struct{ net.Conn }

func (w writeDeadline) Write(b []byte) (int, error) {
	if err := w.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return 0, err
	}
	return w.Conn.Write(b)
}
