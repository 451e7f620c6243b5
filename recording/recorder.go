package recording

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	mch264 "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

// Recorder records one session's stream and timeline. WriteRTP, AddEvent, Stats and Close
// may be called from any goroutine; WriteRTP does the muxing and file writes on its caller's
// (an Attachment gives it one of its own).
type Recorder struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	tl      *timeline

	mu      sync.Mutex
	closed  bool
	mp4     *hashFile
	mux     *muxer
	reorder *reorder
	asm     assembler
	gate    h264.Gate
	emit    func(frame)
	ordered []ordered
	nalBuf  []byte
	stats   Stats
	formats []Format
	// tsBase and tsLast unwrap RTP timestamps; tsSeen once the first frame was written.
	tsExt   int64
	tsLast  uint32
	tsSeen  bool
	gapOpen bool   // a gap event was written and no keyframe came since
	askedTS uint32 // stream time of the last keyframe request
	asked   bool

	keyframe chan struct{}

	failMu   sync.Mutex
	err      error
	failed   chan struct{}
	warnOnce sync.Once
}

// New creates the recording's files in cfg.Dir (made if missing) and writes the timeline's
// first line. Its errors: ErrCodecNotRecordable, an invalid id, or ErrStorage with the path
// and what to do (a session whose policy requires recording must not start).
func New(cfg Config) (*Recorder, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, storageError("create directory", cfg.Dir, err)
	}
	mp4, err := createHashFile(VideoPath(cfg.Dir, cfg.ID))
	if err != nil {
		return nil, err
	}
	tlFile, err := createHashFile(TimelinePath(cfg.Dir, cfg.ID))
	if err != nil {
		_, _ = mp4.Close()
		return nil, errors.Join(err, removeFiles(mp4.path))
	}
	r := &Recorder{
		cfg:      cfg,
		log:      cfg.Logger.With("recording", cfg.ID),
		started:  cfg.Now(),
		mp4:      mp4,
		mux:      newMuxer(mp4, int64(cfg.FragmentDuration.Seconds()*clockRate)),
		reorder:  newReorder(uint32(cfg.ReorderWait.Seconds() * clockRate)),
		keyframe: make(chan struct{}, 1),
		failed:   make(chan struct{}),
	}
	r.emit = r.onFrame
	r.tl = newTimeline(tlFile, r.started, cfg.Now, cfg.FragmentDuration)
	captureKeys := cfg.CaptureKeys
	start := line{Event: Event{Kind: KindStart}, At: r.started.UTC().Format(time.RFC3339Nano), ID: cfg.ID, CaptureKeys: &captureKeys}
	if err := r.tl.write(r.started, start); err != nil {
		_, _ = mp4.Close()
		_, _, _ = r.tl.close(line{Event: Event{Kind: KindEnd}})
		return nil, errors.Join(err, removeFiles(mp4.path, tlFile.path))
	}
	return r, nil
}

// VideoPath is where the recording id in dir keeps its video.
func VideoPath(dir, id string) string { return filepath.Join(dir, id+".mp4") }

// TimelinePath is where the recording id in dir keeps its timeline.
func TimelinePath(dir, id string) string { return filepath.Join(dir, id+".timeline.jsonl") }

func removeFiles(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("recording: remove %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// WriteRTP records one packet of the stream. The recorder keeps p while it waits for the
// frame's other packets: the caller must not modify it afterwards. It returns the
// recording's storage error once there is one (then nothing more is recorded), or ErrClosed.
func (r *Recorder) WriteRTP(p *rtp.Packet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := r.Err(); err != nil {
		return err
	}
	r.stats.Packets++
	r.ordered = r.reorder.push(p, r.ordered[:0])
	r.assemble()
	return r.Err()
}

// assemble hands the packets put in order to the assembler.
func (r *Recorder) assemble() {
	for i, o := range r.ordered {
		r.stats.LostPackets += o.lost
		r.asm.push(o, r.emit)
		r.ordered[i] = ordered{}
	}
}

// AddEvent appends an event to the timeline at time at (zero: now). Keystrokes are refused
// with ErrKeysNotCaptured unless the recording captures them.
func (r *Recorder) AddEvent(at time.Time, e Event) error {
	if err := e.check(r.cfg.CaptureKeys); err != nil {
		return err
	}
	if err := r.tl.write(at, line{Event: e}); err != nil {
		r.fail(err)
		return err
	}
	return nil
}

// KeyframeNeeded signals when the recorder lost data (or has not started) and waits for a
// keyframe: its owner asks the device for one (an Attachment does it through its viewer).
func (r *Recorder) KeyframeNeeded() <-chan struct{} { return r.keyframe }

// Failed is closed when the recording cannot be written any more (Err says why): a session
// whose policy requires recording ends with that reason.
func (r *Recorder) Failed() <-chan struct{} { return r.failed }

// Err returns the recording's storage error, if any.
func (r *Recorder) Err() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.err
}

func (r *Recorder) fail(err error) {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	if r.err != nil || errors.Is(err, ErrClosed) {
		return
	}
	r.err = err
	close(r.failed)
	r.log.Error("recording failed", "err", err)
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.LatePackets = r.reorder.late
	s.Frames, s.Keyframes = r.mux.frames, r.mux.keyframes
	s.Bytes = r.mp4.size
	s.Duration = ticks(r.mux.duration())
	s.WaitingForKeyframe = !r.tsSeen || r.gapOpen
	return s
}

// Close writes what is held (a frame cut short is dropped), closes both files and returns
// the summary. After a storage failure it still closes and summarizes what was written, and
// returns the failure.
func (r *Recorder) Close() (Summary, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return Summary{}, ErrClosed
	}
	r.closed = true
	if r.Err() == nil {
		r.ordered = r.reorder.flush(r.ordered[:0])
		r.assemble()
		r.asm.flush(r.emit)
		if err := r.mux.close(); err != nil {
			r.fail(err)
		}
	}
	digest, err := r.mp4.Close()
	if err != nil {
		r.fail(err) // unless the recorder failed before: the file's error is that one
	}
	s := Summary{
		ID:          r.cfg.ID,
		Video:       File{Path: r.mp4.path, Size: r.mp4.size, SHA256: digest},
		Started:     r.started,
		Duration:    ticks(r.mux.writtenTicks),
		Frames:      r.mux.writtenFrames,
		Keyframes:   r.mux.writtenKeys,
		Dropped:     r.stats.Dropped,
		LostPackets: r.stats.LostPackets,
		Formats:     r.formats,
	}
	r.mu.Unlock()

	frames, durMS := s.Frames, s.Duration.Milliseconds()
	s.Ended = r.cfg.Now()
	tlDigest, lines, err := r.tl.close(line{Event: Event{Kind: KindEnd}, Frames: &frames, DurationMS: &durMS, VideoSHA256: digest})
	s.Timeline = File{Path: r.tl.out.path, Size: r.tl.out.size, SHA256: tlDigest}
	s.Events = lines
	if vErr := r.Err(); vErr != nil && !errors.Is(err, vErr) {
		return s, errors.Join(vErr, err)
	}
	return s, err
}

// ticks converts 90 kHz ticks to a duration.
func ticks(t int64) time.Duration { return time.Duration(t) * time.Second / clockRate }

// onFrame records one frame from the assembler.
func (r *Recorder) onFrame(f frame) {
	if r.Err() != nil {
		return
	}
	if !f.whole {
		r.lose(f.ts)
		return
	}
	nalus, buf, err := depacketize(f.payloads, r.nalBuf[:0])
	r.nalBuf = buf
	if err != nil {
		r.warn("malformed frame dropped", err)
		r.lose(f.ts)
		return
	}
	u, ok, err := r.gate.Pass(nalus)
	if err != nil {
		// B-frames or a parameter set that does not parse: nothing until a keyframe that
		// does.
		r.warn("undecodable frame dropped", err)
		r.lose(f.ts)
		return
	}
	if !ok {
		r.stats.Dropped++
		r.ask(f.ts)
		return
	}
	if err := r.write(f.ts, u); err != nil {
		r.fail(err)
	}
}

// write adds one access unit the gate let through to the file.
func (r *Recorder) write(ts uint32, u h264.Unit) error {
	nals := h264.SplitAnnexB(u.Data)
	if !r.tsSeen {
		sps, pps := paramSets(nals)
		if err := r.mux.writeInit(sps, pps); err != nil {
			return err
		}
		r.tsSeen, r.tsExt, r.tsLast = true, 0, ts
	} else {
		r.tsExt += int64(int32(ts - r.tsLast))
		r.tsLast = ts
	}
	avcc, err := mch264.AVCC(nals).Marshal()
	if err != nil {
		return fmt.Errorf("recording: access unit: %w", err)
	}
	dts, err := r.mux.add(r.tsExt, avcc, u.Keyframe)
	if err != nil {
		return err
	}
	at := ticks(dts)
	if u.Keyframe {
		r.gapOpen, r.asked = false, false
	}
	if u.NewSPS {
		sps, _ := r.gate.SPS()
		r.formats = append(r.formats, Format{At: at, Width: sps.Width, Height: sps.Height})
		pts := at.Milliseconds()
		return r.tl.write(time.Time{}, line{Event: Event{Kind: KindVideo}, PTSMS: &pts, Width: sps.Width, Height: sps.Height})
	}
	return nil
}

// lose drops a frame that cannot be decoded: nothing more is written until a keyframe.
func (r *Recorder) lose(ts uint32) {
	r.stats.Dropped++
	r.gate.Lost()
	if r.tsSeen && !r.gapOpen {
		r.gapOpen = true
		pts := ticks(r.mux.duration()).Milliseconds()
		if err := r.tl.write(time.Time{}, line{Event: Event{Kind: KindGap}, PTSMS: &pts, LostPackets: r.stats.LostPackets}); err != nil {
			r.fail(err)
		}
	}
	r.ask(ts)
}

// keyframeAskInterval is how much stream time passes between keyframe requests while the
// recorder waits for one (the sfu folds them with its viewers' anyway).
const keyframeAskInterval = clockRate

// ask signals KeyframeNeeded, at most once per keyframeAskInterval of stream time.
func (r *Recorder) ask(ts uint32) {
	if r.asked && int32(ts-r.askedTS) < keyframeAskInterval {
		return
	}
	r.asked, r.askedTS = true, ts
	select {
	case r.keyframe <- struct{}{}:
	default:
	}
}

func (r *Recorder) warn(msg string, err error) {
	r.warnOnce.Do(func() { r.log.Warn(msg, "err", err) })
}

// paramSets returns the first SPS and PPS among an access unit's NAL units (the gate puts
// both in front of every keyframe).
func paramSets(nals [][]byte) (sps, pps []byte) {
	for _, n := range nals {
		switch h264.NALType(n) {
		case h264.NALSPS:
			if sps == nil {
				sps = n
			}
		case h264.NALPPS:
			if pps == nil {
				pps = n
			}
		}
	}
	return sps, pps
}
