package amtrfb

import (
	"errors"
	"image"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// Config shapes one served session: what AMT announces, and the faults to inject.
type Config struct {
	// Version is the 12-byte ProtocolVersion sent first; "" is "RFB 004.000\n" (AMT's).
	Version string
	// Name is the desktop name in ServerInit; "" is "Intel(r) AMT KVM".
	Name string
	// PixelFormat is ServerInit's format and the one served until the client sets another;
	// nil is RGB565 little-endian, AMT's default.
	PixelFormat *rfb.PixelFormat
	// ZlibOff starts encoding 16 with stored blocks instead of compressed (AMT's default, as
	// Intel's toolkit sees it, is compressed); KvmExtCmd 4 from the client switches it.
	ZlibOff bool
	// RawDeflate sends compressed payloads as bare deflate, without the zlib header
	// (MeshCentral's client inflates them so); by default a zlib stream, 78 9C first.
	RawDeflate bool

	// DropAfterServerInit closes the connection right after ServerInit (fault).
	DropAfterServerInit bool
	// MaxFramebufferBytes: when bytes per pixel × width × height exceeds it, the session ends
	// — right after ClientInit for the ServerInit format, or when a SetPixelFormat or a
	// resize goes over. 0 is AMT's 9,216,000 (MeshCentral's threshold); negative is no limit.
	MaxFramebufferBytes int
	// InactivityTimeout ends the session when no KeyEvent or PointerEvent came for this long
	// (AMT's SessionTimeout, minutes there); 0 is never.
	InactivityTimeout time.Duration
	// Overlay draws on every picture before it is served (the simulator's user-consent code,
	// AMT's red border); it may change img's pixels, never its size.
	Overlay func(img *image.RGBA)
	// KvmData receives the payloads of the client's KVM data channel messages (not the empty
	// keep-alives); nil drops them. Called from Serve's goroutine.
	KvmData func(payload []byte)

	// HandshakeTimeout bounds the handshake; 0 is 10 s. WriteTimeout bounds each message
	// sent; 0 is 10 s.
	HandshakeTimeout, WriteTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultMaxFramebufferBytes is AMT's display buffer limit as MeshCentral checks it
// (bytes per pixel × width × height): a 16 bpp session fits 2560×1600, not 3840×2160.
const DefaultMaxFramebufferBytes = 9_216_000

func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = "RFB 004.000\n"
	}
	if c.Name == "" {
		c.Name = "Intel(r) AMT KVM"
	}
	if c.PixelFormat == nil {
		pf := rfb.PixelFormatRGB565()
		c.PixelFormat = &pf
	}
	if c.MaxFramebufferBytes == 0 {
		c.MaxFramebufferBytes = DefaultMaxFramebufferBytes
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// oversize reports whether a w×h screen in pf exceeds the display buffer limit.
func (c Config) oversize(pf rfb.PixelFormat, w, h int) bool {
	return c.MaxFramebufferBytes > 0 && pf.BytesPerPixel()*w*h > c.MaxFramebufferBytes
}

// Errors Serve ends with; the client sees only the connection close, as with AMT.
var (
	// ErrDropped: DropAfterServerInit.
	ErrDropped = errors.New("amtrfb: dropped after ServerInit (injected fault)")
	// ErrOversize: the screen needs more display buffer than MaxFramebufferBytes.
	ErrOversize = errors.New("amtrfb: screen too large for the display buffer at this pixel format")
	// ErrInactive: no input within InactivityTimeout.
	ErrInactive = errors.New("amtrfb: session timed out without input")
	// ErrPixelFormat: the client asked for a pixel format AMT does not serve.
	ErrPixelFormat = errors.New("amtrfb: pixel format not served (AMT takes RGB565, RGB332, 8- or 4-bit gray)")
	// ErrNoRaw: SetEncodings without RAW, which AMT requires.
	ErrNoRaw = errors.New("amtrfb: SetEncodings without RAW")
	// ErrResize: the screen changed size and the client did not offer DesktopSize.
	ErrResize = errors.New("amtrfb: screen resized and the client cannot follow (no DesktopSize)")
	// ErrProtocol: the client broke the protocol.
	ErrProtocol = errors.New("amtrfb: client protocol error")
)
