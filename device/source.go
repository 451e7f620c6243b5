package device

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
)

// Source is a machine's video (and, for protocols like VNC and Intel AMT, its input) as a
// spec names it. It is not a connection: the Supervisor opens it, and opens it again when a
// connection fails.
type Source interface {
	// Open connects to the machine. It returns when the connection is usable (a VNC
	// handshake done, an MJPEG stream's headers read) or failed.
	Open(ctx context.Context) (Conn, error)
	// String names the source for people and logs, without secrets: "vnc://10.0.0.5:5900".
	String() string
}

// Conn is one open connection to a source. Closing Video ends the connection (Input too).
type Conn struct {
	// Video produces the pictures: raw frames, or encoded ones from a media.EncodedSource.
	Video media.Source
	// Input delivers keyboard and pointer events over the same connection (RFB key and
	// pointer events); nil when the source carries no input (MJPEG, V4L2, RTSP).
	Input hid.Sink
}

// Watched is implemented by a Conn's Video when it can tell that its connection ended while
// nobody pulls frames (an idle VNC connection dropping): Done is closed then.
type Watched interface {
	Done() <-chan struct{}
}

// Failed is implemented by a Watched video that can say why its connection ended ("stopped
// delivering frames for 5s"); Err is valid once Done is closed. The no-signal card shows it.
type Failed interface {
	Err() error
}

// Sized is implemented by a Conn's Video that knows its picture size on connecting (a VNC
// server says it in its handshake), before the first frame: the relay learns it at once.
type Sized interface {
	Size() (width, height int)
}

// Sink is an opened input device of its own (a USB gadget), independent of the video source.
type Sink interface {
	hid.Sink
	io.Closer
}

// ErrNoSignal is what input returns while the source it goes through is down.
var ErrNoSignal = errors.New("device: no signal from the source; input cannot reach the machine until it reconnects")

// ErrNoInput is what input returns on a view-only device (--hid none, or a source that carries
// no input and no --hid).
var ErrNoInput = errors.New("device: view-only, this device has no input")

// Encoded is implemented by a Source whose connections deliver already-encoded video: the
// agent must offer consoles that codec (H.264 passthrough) before the first connection.
type Encoded interface {
	Codec() media.Codec
}

// Static returns a Source that hands out conn, already open, to every Open: for a source that
// cannot fail and that its creator keeps a hand on (the test pattern in tests and the demo).
func Static(name string, conn Conn) Source { return staticSource{name: name, conn: conn} }

type staticSource struct {
	name string
	conn Conn
}

func (s staticSource) Open(context.Context) (Conn, error) { return s.conn, nil }
func (s staticSource) String() string                     { return s.name }

// OnDemand is implemented by a Source whose connection is exclusive or costly to hold (Intel
// AMT: one KVM session per machine, a person's consent per session): the Supervisor connects
// it only while a console watches (Supervisor.Acquire), and closes it Linger after the last
// one left, so a console reopened at once finds the connection still there.
type OnDemand interface {
	Linger() time.Duration
}
