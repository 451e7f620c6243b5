package mjpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
)

// Errors that end a stream.
var (
	// ErrStalled is returned when the stream delivered no frame for the stall timeout.
	ErrStalled = errors.New("mjpeg: the stream stopped delivering frames")
	// ErrEnded is returned when the server ended the stream.
	ErrEnded = errors.New("mjpeg: the server ended the stream")
)

// maxBadFrames is how many undecodable frames in a row end the stream: one corrupt frame is
// skipped, a stream of them is an error the operator must see.
const maxBadFrames = 30

type streamConfig struct {
	body     io.Closer
	br       *bufio.Reader
	boundary boundaryInfo
	maxFrame int
	stall    time.Duration
	decoder  Decoder
	log      *slog.Logger
	cancel   func()
}

// jpegBuf is one received JPEG and when its last byte arrived.
type jpegBuf struct {
	data []byte
	at   time.Time
}

// Stream is one open MJPEG stream, a media.Source. A reader goroutine it owns receives every
// part and keeps only the newest JPEG; Next decodes that one, so a slow consumer gets the
// latest picture instead of a queue of stale ones, and decoding costs CPU only for frames
// that are sent.
type Stream struct {
	cfg   streamConfig
	parts *partReader

	mu      sync.Mutex
	latest  jpegBuf // newest JPEG not yet taken by Next (when pending)
	pending bool
	refresh bool
	err     error // why the reader stopped
	stalled bool
	wake    chan struct{} // cap 1: a frame, a refresh or the end

	done      chan struct{} // closed when the reader goroutine has ended
	closed    chan struct{}
	closeOnce sync.Once

	// Next's own state (one goroutine at a time); decMu also keeps Close from freeing the
	// decoder under a Decode.
	decMu   sync.Mutex
	cur     jpegBuf
	last    media.Frame
	badRuns int

	received, dropped, undecodable atomic.Uint64
}

func newStream(cfg streamConfig) *Stream {
	s := &Stream{
		cfg:    cfg,
		parts:  newPartReader(cfg.br, cfg.boundary.value, cfg.maxFrame),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	s.parts.inPart = cfg.boundary.sniffed
	go s.read()
	return s
}

// read receives parts until the stream fails, stalls or is closed.
func (s *Stream) read() {
	watchdog := time.AfterFunc(s.cfg.stall, func() {
		s.mu.Lock()
		s.stalled = true
		s.mu.Unlock()
		// Unblock the read below.
		s.cfg.cancel()
		_ = s.cfg.body.Close()
	})
	defer watchdog.Stop()
	fill := make([]byte, 0, 256<<10)
	for {
		data, err := s.parts.next(fill)
		if err != nil {
			s.end(err)
			return
		}
		at := time.Now()
		watchdog.Reset(s.cfg.stall)
		s.mu.Lock()
		if s.pending {
			s.dropped.Add(1)
		}
		fill = s.latest.data[:0]
		s.latest = jpegBuf{data: data, at: at}
		s.pending = true
		// Counted once Next can take it: a caller that saw the count finds the frame.
		s.received.Add(1)
		s.mu.Unlock()
		s.signal()
	}
}

func (s *Stream) end(err error) {
	s.mu.Lock()
	switch {
	case s.isClosed():
		err = media.ErrClosed
	case s.stalled:
		err = fmt.Errorf("%w for %v", ErrStalled, s.cfg.stall)
	case errors.Is(err, io.EOF):
		err = ErrEnded
	default:
		err = fmt.Errorf("mjpeg: the stream broke off (streamer restarted or network lost): %w", err)
	}
	s.err = err
	// Under the lock: whoever sees the error also sees Done closed.
	close(s.done)
	s.mu.Unlock()
	s.signal()
	if !errors.Is(err, media.ErrClosed) {
		s.cfg.log.Warn("mjpeg stream ended", "err", err, "frames", s.received.Load())
	}
}

func (s *Stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Stream) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Next returns the newest frame, decoded now; it waits for one when none arrived since the
// last call. It returns the error that ended the stream once the frames before it are taken.
func (s *Stream) Next(ctx context.Context) (media.Frame, error) {
	s.decMu.Lock()
	defer s.decMu.Unlock()
	for {
		if s.isClosed() {
			return media.Frame{}, media.ErrClosed
		}
		s.mu.Lock()
		switch {
		case s.pending:
			// Hand the spent buffer back to the reader and take the newest JPEG.
			s.cur, s.latest = s.latest, jpegBuf{data: s.cur.data[:0]}
			s.pending, s.refresh = false, false
			s.mu.Unlock()
			f, err := s.decode(s.cur)
			if err != nil {
				return media.Frame{}, err
			}
			if f.Image != nil {
				return f, nil
			}
			continue
		case s.err != nil:
			err := s.err
			s.mu.Unlock()
			return media.Frame{}, err
		case s.refresh && s.last.Image != nil:
			// An MJPEG frame is a whole picture: the last one is as good as a new one, now.
			s.refresh = false
			s.mu.Unlock()
			f := s.last
			f.CaptureTime = time.Now()
			return f, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return media.Frame{}, ctx.Err()
		case <-s.closed:
		case <-s.wake:
		}
	}
}

// decode makes a frame of b. A corrupt JPEG is skipped (no image, no error) unless the
// stream sends nothing else.
func (s *Stream) decode(b jpegBuf) (media.Frame, error) {
	img, err := s.cfg.decoder.Decode(b.data)
	if err != nil {
		s.undecodable.Add(1)
		s.badRuns++
		if errors.Is(err, ErrUnsupported) || s.badRuns >= maxBadFrames {
			return media.Frame{}, err
		}
		s.cfg.log.Debug("skipping an undecodable frame", "err", err, "bytes", len(b.data))
		return media.Frame{}, nil
	}
	s.badRuns = 0
	s.last = media.Frame{Image: img, CaptureTime: b.at}
	return s.last, nil
}

// Refresh makes Next return the latest picture again at once (a new viewer needs a
// keyframe and should not wait for the next part). It implements media.Refresher.
func (s *Stream) Refresh() {
	s.mu.Lock()
	s.refresh = true
	s.mu.Unlock()
	s.signal()
}

// Done is closed when the stream ended (dropped, stalled or closed), even while nobody calls
// Next. It implements device.Watched.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err says why the stream ended (device.Failed); nil while it runs.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the stream and waits for its reader.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.cfg.cancel()
		_ = s.cfg.body.Close()
		<-s.done
		s.decMu.Lock()
		s.cfg.decoder.Close()
		s.decMu.Unlock()
	})
	return nil
}

// Stats counts a stream's frames.
type Stats struct {
	// Received counts complete JPEG parts.
	Received uint64
	// Dropped counts parts replaced by a newer one before Next took them.
	Dropped uint64
	// Undecodable counts parts Next could not decode.
	Undecodable uint64
	// Malformed counts parts skipped for malformed headers or bodies.
	Malformed uint64
}

// Stats reports the stream's counters so far.
func (s *Stream) Stats() Stats {
	return Stats{
		Received: s.received.Load(), Dropped: s.dropped.Load(),
		Undecodable: s.undecodable.Load(), Malformed: s.parts.malformed.Load(),
	}
}

// Decoder names the stream's JPEG decoder.
func (s *Stream) Decoder() string { return s.cfg.decoder.Name() }
