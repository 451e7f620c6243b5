package rfb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	"sync/atomic"
)

// Config configures a Client. The zero value asks for 32 bpp pixels and the default decoders.
type Config struct {
	// Password is for VNC authentication; empty uses security None when the server offers it.
	Password string
	// Exclusive asks the server to disconnect other clients (ClientInit shared = 0).
	Exclusive bool
	// PixelFormat is sent with SetPixelFormat; nil is PixelFormat32. AMT wants RGB565 or an
	// 8-bit format.
	PixelFormat *PixelFormat
	// Decoders are the encodings to offer, most preferred first; nil is DefaultDecoders().
	// Decoders keep per-connection state (ZRLE's zlib stream): give each Client its own.
	Decoders []Decoder
	// NoCursor leaves out the Cursor pseudo-encoding: the server draws the pointer into the
	// framebuffer itself.
	NoCursor bool
	// PseudoEncodings, when not nil, replaces the pseudo-encodings offered after the
	// decoders' (by default DesktopSize, ExtendedDesktopSize, LastRect and, unless NoCursor,
	// Cursor): AMT wants exactly DesktopSize, and EncodingIntelKvmData for its data channel.
	PseudoEncodings []int32
	// MaxWidth and MaxHeight bound the framebuffer a server may declare; default 8192.
	MaxWidth, MaxHeight int
	// MaxNameLength bounds the desktop name kept (longer names are cut); default 256.
	MaxNameLength int
	// MaxCutText bounds the clipboard text handed to the caller (longer text is skipped);
	// default 64 KiB.
	MaxCutText int
}

func (c Config) withDefaults() Config {
	if c.PixelFormat == nil {
		pf := PixelFormat32()
		c.PixelFormat = &pf
	}
	if c.Decoders == nil {
		c.Decoders = DefaultDecoders()
	}
	if c.MaxWidth <= 0 {
		c.MaxWidth = 8192
	}
	if c.MaxHeight <= 0 {
		c.MaxHeight = 8192
	}
	if c.MaxNameLength <= 0 {
		c.MaxNameLength = 256
	}
	if c.MaxCutText <= 0 {
		c.MaxCutText = 64 << 10
	}
	return c
}

// Client is one RFB session. ReadMessage is called from one goroutine (it owns the
// framebuffer); the request and input methods may be called from any goroutine.
type Client struct {
	cfg      Config
	r        *Reader
	w        io.Writer
	wmu      sync.Mutex
	version  Version
	serverPF PixelFormat
	pf       PixelFormat
	px       *PixelConverter
	name     string
	decoders map[int32]Decoder

	fb     *image.RGBA
	size   atomic.Uint64 // width<<32 | height, for readers on other goroutines
	cursor Cursor
}

// NewClient runs the handshake over rw (version, security, ServerInit), then sets the pixel
// format and encodings. It does not request updates. rw's deadlines are the caller's: set one
// on a net.Conn so a silent server cannot hang the handshake.
func NewClient(rw io.ReadWriter, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, r: newReader(rw), w: rw, decoders: map[int32]Decoder{}}
	px, err := NewPixelConverter(*cfg.PixelFormat)
	if err != nil {
		return nil, err
	}
	c.pf, c.px = *cfg.PixelFormat, px
	for _, d := range cfg.Decoders {
		c.decoders[d.Encoding()] = d
	}
	if err := c.negotiateVersion(); err != nil {
		return nil, err
	}
	if err := c.negotiateSecurity(); err != nil {
		return nil, err
	}
	if err := c.initialise(); err != nil {
		return nil, err
	}
	if err := c.write(append([]byte{msgSetPixelFormat, 0, 0, 0}, c.pf.Marshal()...)); err != nil {
		return nil, err
	}
	if err := c.setEncodings(); err != nil {
		return nil, err
	}
	return c, nil
}

// Client-to-server message types.
const (
	msgSetPixelFormat           = 0
	msgSetEncodings             = 2
	msgFramebufferUpdateRequest = 3
	msgKeyEvent                 = 4
	msgPointerEvent             = 5
	msgClientCutText            = 6
)

// Server-to-client message types.
const (
	msgFramebufferUpdate   = 0
	msgSetColourMapEntries = 1
	msgBell                = 2
	msgServerCutText       = 3
)

func (c *Client) setEncodings() error {
	encs := make([]int32, 0, len(c.cfg.Decoders)+4)
	for _, d := range c.cfg.Decoders {
		encs = append(encs, d.Encoding())
	}
	switch {
	case c.cfg.PseudoEncodings != nil:
		encs = append(encs, c.cfg.PseudoEncodings...)
	default:
		encs = append(encs, EncodingDesktopSize, EncodingExtendedDesktopSize, EncodingLastRect)
		if !c.cfg.NoCursor {
			encs = append(encs, EncodingCursor)
		}
	}
	b := make([]byte, 4, 4+4*len(encs))
	b[0] = msgSetEncodings
	binary.BigEndian.PutUint16(b[2:], uint16(len(encs)))
	for _, e := range encs {
		b = binary.BigEndian.AppendUint32(b, uint32(e))
	}
	return c.write(b)
}

func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("rfb: write: %w", err)
	}
	return nil
}

// Version is the protocol version in use.
func (c *Client) Version() Version { return c.version }

// Name is the desktop name the server announced, stripped of control characters.
func (c *Client) Name() string { return c.name }

// ServerPixelFormat is the server's native format from ServerInit.
func (c *Client) ServerPixelFormat() PixelFormat { return c.serverPF }

// Size is the framebuffer's current size; safe from any goroutine.
func (c *Client) Size() (width, height int) {
	v := c.size.Load()
	return int(v >> 32), int(uint32(v))
}

// Framebuffer is the picture as of the last ReadMessage: only the goroutine calling
// ReadMessage may read it, between calls. It is replaced when the size changes.
func (c *Client) Framebuffer() *image.RGBA { return c.fb }

// Cursor is the last cursor shape the server sent (empty before any).
func (c *Client) Cursor() Cursor { return c.cursor }

// BytesRead is how many bytes the server sent so far.
func (c *Client) BytesRead() int64 { return c.r.BytesRead() }

// RequestUpdate sends a FramebufferUpdateRequest for r (clipped to the framebuffer).
// Incremental requests are answered when something changed; non-incremental ones at once with
// the whole area.
func (c *Client) RequestUpdate(incremental bool, r image.Rectangle) error {
	w, h := c.Size()
	r = r.Intersect(image.Rect(0, 0, w, h))
	b := make([]byte, 10)
	b[0], b[1] = msgFramebufferUpdateRequest, boolByte(incremental)
	binary.BigEndian.PutUint16(b[2:], uint16(r.Min.X))
	binary.BigEndian.PutUint16(b[4:], uint16(r.Min.Y))
	binary.BigEndian.PutUint16(b[6:], uint16(r.Dx()))
	binary.BigEndian.PutUint16(b[8:], uint16(r.Dy()))
	return c.write(b)
}

// RequestFull asks for an update of the whole framebuffer (incremental or not).
func (c *Client) RequestFull(incremental bool) error {
	w, h := c.Size()
	return c.RequestUpdate(incremental, image.Rect(0, 0, w, h))
}

// KeyEvent presses or releases the key with the X11 keysym.
func (c *Client) KeyEvent(keysym uint32, down bool) error {
	b := make([]byte, 8)
	b[0], b[1] = msgKeyEvent, boolByte(down)
	binary.BigEndian.PutUint32(b[4:], keysym)
	return c.write(b)
}

// PointerEvent moves the pointer to (x, y) in framebuffer pixels with buttons held as in mask
// (bit 0 left, 1 middle, 2 right, 3/4 wheel up/down, 5/6 wheel left/right).
func (c *Client) PointerEvent(mask uint8, x, y int) error {
	b := make([]byte, 6)
	b[0], b[1] = msgPointerEvent, mask
	binary.BigEndian.PutUint16(b[2:], uint16(max(0, min(x, 0xFFFF))))
	binary.BigEndian.PutUint16(b[4:], uint16(max(0, min(y, 0xFFFF))))
	return c.write(b)
}

// ErrNotLatin1 is returned by CutText for text the protocol cannot carry.
var ErrNotLatin1 = errors.New("rfb: clipboard text must be Latin-1")

// CutText sends clipboard text (Latin-1 only, as RFC 6143 defines it).
func (c *Client) CutText(text string) error {
	b := make([]byte, 8, 8+len(text))
	b[0] = msgClientCutText
	for _, r := range text {
		if r > 0xFF {
			return ErrNotLatin1
		}
		b = append(b, byte(r))
	}
	binary.BigEndian.PutUint32(b[4:], uint32(len(b)-8))
	return c.write(b)
}

// checkSize validates a framebuffer size the server declares.
func (c *Client) checkSize(w, h int) error {
	if w > c.cfg.MaxWidth || h > c.cfg.MaxHeight {
		return protoErr("framebuffer %dx%d is larger than the limit %dx%d", w, h, c.cfg.MaxWidth, c.cfg.MaxHeight)
	}
	return nil
}

// resize replaces the framebuffer, keeping the part of the old picture that still fits.
func (c *Client) resize(w, h int) {
	fb := image.NewRGBA(image.Rect(0, 0, w, h))
	if c.fb != nil {
		copyRGBA(fb, c.fb, fb.Rect.Intersect(c.fb.Rect), image.Point{})
	}
	c.fb = fb
	c.size.Store(uint64(w)<<32 | uint64(h))
}
