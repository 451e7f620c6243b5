package recording

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// line is one line of the timeline file: t_ms (milliseconds since the recording started)
// first, the event's fields, then those the recorder adds to its own kinds.
type line struct {
	TMS int64 `json:"t_ms"`
	Event
	At          string `json:"at,omitempty"`
	ID          string `json:"id,omitempty"`
	CaptureKeys *bool  `json:"capture_keys,omitempty"`
	PTSMS       *int64 `json:"pts_ms,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	LostPackets int    `json:"lost_packets,omitempty"`
	Frames      *int   `json:"frames,omitempty"`
	DurationMS  *int64 `json:"duration_ms,omitempty"`
	VideoSHA256 string `json:"video_sha256,omitempty"`
}

// timeline writes a recording's events as JSON lines, each with one write so a crash cuts
// at most the last, synced at most every syncEvery (and at Close). Safe for concurrent use.
type timeline struct {
	start     time.Time
	now       func() time.Time
	syncEvery time.Duration

	mu       sync.Mutex
	out      *hashFile
	lastSync time.Time
	lines    int
	closed   bool
}

func newTimeline(out *hashFile, start time.Time, now func() time.Time, syncEvery time.Duration) *timeline {
	return &timeline{out: out, start: start, now: now, syncEvery: syncEvery, lastSync: start}
}

// write appends l at time at (zero: now), t_ms never before the start.
func (t *timeline) write(at time.Time, l line) error {
	now := t.now()
	if at.IsZero() {
		at = now
	}
	l.TMS = max(at.Sub(t.start).Milliseconds(), 0)
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("recording: timeline event %s: %w", l.Kind, err)
	}
	b = append(b, '\n')
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if _, err := t.out.Write(b); err != nil {
		return err
	}
	t.lines++
	if now.Sub(t.lastSync) >= t.syncEvery {
		t.lastSync = now
		return t.out.Sync()
	}
	return nil
}

// close writes the last line and closes the file.
func (t *timeline) close(last line) (digest string, lines int, err error) {
	werr := t.write(time.Time{}, last)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return "", t.lines, ErrClosed
	}
	t.closed = true
	digest, err = t.out.Close()
	if werr != nil {
		err = werr
	}
	return digest, t.lines, err
}
