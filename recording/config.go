package recording

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// Config configures a Recorder.
type Config struct {
	// Dir is the recordings directory (the data directory's by default); it is created if
	// missing.
	Dir string
	// ID names the recording: its files are <ID>.mp4 and <ID>.timeline.jsonl. Letters,
	// digits, '-' and '_' only, so it is a plain file name everywhere.
	ID string
	// Codec is the stream's MIME type (sfu.Forwarder.Codec().MimeType); anything but H.264
	// is ErrCodecNotRecordable.
	Codec string
	// CaptureKeys lets keystroke events into the timeline (the organization's full keystroke
	// capture, off by default).
	CaptureKeys bool
	// FragmentDuration is the longest stretch of video held in memory before it is written
	// and synced; default 1 s.
	FragmentDuration time.Duration
	// ReorderWait is how much stream time (RTP timestamps) a missing packet is waited for
	// before it counts as lost: a retransmission the relay NACKed arrives late; default
	// 250 ms.
	ReorderWait time.Duration
	// Now tells wall time for the timeline; nil is time.Now.
	Now func() time.Time
	// Logger; nil is slog.Default.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultFragmentDuration = time.Second
	DefaultReorderWait      = 250 * time.Millisecond
)

// clockRate is H.264's RTP clock (RFC 6184), the MP4 track's time scale.
const clockRate = 90000

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

func (c Config) withDefaults() Config {
	if c.FragmentDuration <= 0 {
		c.FragmentDuration = DefaultFragmentDuration
	}
	if c.ReorderWait <= 0 {
		c.ReorderWait = DefaultReorderWait
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if err := CheckCodec(c.Codec); err != nil {
		return err
	}
	switch {
	case c.Dir == "":
		return fmt.Errorf("recording: no recordings directory")
	case !validID.MatchString(c.ID):
		return fmt.Errorf("recording: id %.40q is not a plain name (letters, digits, '-', '_')", c.ID)
	}
	return nil
}

// CheckCodec reports whether a stream of this MIME type can be recorded: nil for H.264,
// ErrCodecNotRecordable otherwise. The relay asks before a session that requires recording
// starts.
func CheckCodec(mimeType string) error {
	if strings.EqualFold(mimeType, webrtc.MimeTypeH264) {
		return nil
	}
	return fmt.Errorf("%w: the stream is %q", ErrCodecNotRecordable, mimeType)
}
