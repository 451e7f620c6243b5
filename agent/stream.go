package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/scale"
)

// frameSource is where a stream's frames come from: the device supervisor, or a fake in tests.
type frameSource interface {
	Next(ctx context.Context) (media.Frame, error)
	// Refresh asks for a picture at once (a new viewer, a PLI): a full update from a
	// damage-driven source, a keyframe from an encoded one.
	Refresh()
}

// stream encodes the device's frames once for every session that watches them: one encoder,
// one TrackLocalStaticSample bound to each session's peer connection. Frames carry their
// size; when it changes the stream reopens the encoder at the new size, whose first frame is
// a keyframe, and the console's video element follows without renegotiation. Frames a source
// delivers already encoded are written as they are.
type stream struct {
	src        frameSource
	codec      media.Codec
	track      *webrtc.TrackLocalStaticSample
	newEncoder EncoderFactory
	clock      *captureClock
	// h264ProfileID is the profile-level-id the track (and every session's offer) names.
	h264ProfileID string
	base          media.EncoderConfig // as configured: bitrate defaults scale with each size
	encCfg        media.EncoderConfig // the current encoder's
	log           *slog.Logger
	metrics       *Metrics

	// ladder and scaler belong to the run loop: the size sent under the current estimate.
	ladder ladder
	scaler *scale.Scaler

	// lastLook samples the previous raw frame, to tell which frame first changed after a
	// probe.
	lastLook uint64
	seed     maphash.Seed

	mu       sync.Mutex
	enc      media.Encoder
	bitrates map[string]int       // session → its estimated available bitrate
	paths    map[string]*gccWatch // session → its estimator's congestion signal
	probes   probeAnswers         // probes waiting for a changed frame, by session

	cancel context.CancelFunc
	done   chan struct{}
}

// EncoderFactory builds an encoder; cmd wires it to media/encoders.
type EncoderFactory func(cfg media.EncoderConfig) (media.Encoder, error)

func startStream(src frameSource, newEncoder EncoderFactory, encCfg media.EncoderConfig, h264ProfileID string, log *slog.Logger, metrics *Metrics) (*stream, error) {
	capability, err := codecCapability(encCfg.Codec, h264ProfileID)
	if err != nil {
		return nil, err
	}
	track, err := webrtc.NewTrackLocalStaticSample(capability, "video", "kvmrelay")
	if err != nil {
		return nil, fmt.Errorf("agent: video track: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{
		src: src, codec: encCfg.Codec, track: track, newEncoder: newEncoder, clock: &captureClock{}, base: encCfg, encCfg: encCfg, h264ProfileID: h264ProfileID,
		log: log.With("codec", encCfg.Codec), metrics: metrics,
		bitrates: make(map[string]int), paths: make(map[string]*gccWatch), cancel: cancel, done: make(chan struct{}), seed: maphash.MakeSeed(),
	}
	go s.run(ctx)
	return s, nil
}

// run pulls frames from the source as they come (damage-driven sources hand one over as soon
// as the picture changes), encodes and writes them. Nothing here waits for a tick: the time a
// key press takes to reach the screen is source + encode + network + decode, no more.
func (s *stream) run(ctx context.Context) {
	defer close(s.done)
	defer s.closeEncoder()
	var last time.Time
	frameDuration := time.Second / time.Duration(max(1, s.base.FPS))
	for {
		f, err := s.src.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, media.ErrClosed) {
				s.log.Error("video source failed", "err", err)
			}
			return
		}
		start := time.Now()
		data, key, ok := s.encode(f)
		if !ok {
			continue
		}
		encodeTime := time.Since(start)
		// The RTP clock advances by real elapsed capture time, so a damage-driven frame 5 ms
		// after the last one is timestamped 5 ms later and the browser renders it at once.
		d := frameDuration
		if !last.IsZero() {
			d = max(f.CaptureTime.Sub(last), time.Millisecond)
		}
		last = f.CaptureTime
		s.clock.set(f.CaptureTime, s.answers(f))
		if err := s.track.WriteSample(pionmedia.Sample{Data: data, Duration: d}); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Debug("write sample", "err", err)
		}
		s.metrics.observeFrame(encodeTime, len(data), key)
		s.metrics.CaptureToSend.Observe(time.Since(f.CaptureTime).Seconds())
	}
}

// encode turns a frame into what the track sends. An encoded frame of the stream's codec
// passes through; a raw one goes through the encoder, reopened first when the size changed.
func (s *stream) encode(f media.Frame) (data []byte, key, ok bool) {
	if f.Encoded != nil {
		if f.Encoded.Codec != "" && f.Encoded.Codec != s.codec {
			s.log.Error("source frame codec differs from the session's; dropped", "frame", f.Encoded.Codec)
			return nil, false, false
		}
		return f.Encoded.Data, f.Encoded.Keyframe, len(f.Encoded.Data) > 0
	}
	f = s.fitToBandwidth(f)
	enc, err := s.encoderFor(f)
	if err != nil {
		s.log.Error("cannot encode this frame size", "size", fmt.Sprintf("%dx%d", f.Image.Rect.Dx(), f.Image.Rect.Dy()), "err", err)
		return nil, false, false
	}
	if f.Cut {
		enc.ForceKeyFrame()
	}
	ef, err := enc.Encode(f)
	if err != nil {
		s.log.Error("encode frame", "err", err)
		return nil, false, false
	}
	return ef.Data, ef.Keyframe, len(ef.Data) > 0
}

// fitToBandwidth returns f scaled down to the size the ladder picks for what the paths
// show (f itself at full size).
func (s *stream) fitToBandwidth(f media.Frame) media.Frame {
	w, h := f.Size()
	s.mu.Lock()
	paths := s.readPathsLocked()
	s.mu.Unlock()
	sw, sh, step := s.ladder.size(w, h, paths, f.CaptureTime)
	s.metrics.SentHeight.Set(float64(sh))
	s.metrics.LadderCongested.Set(boolGauge(s.ladder.congested(f.CaptureTime)))
	if step != stepNone {
		s.metrics.LadderSteps.WithLabelValues(string(step)).Inc()
		bps, sent := lowestEstimate(paths), fmt.Sprintf("%dx%d", sw, sh)
		if step == stepDown || step == stepBack {
			s.log.Info("path congested and its estimate too low for legible text at this size; sending a smaller picture",
				"estimate_bps", bps, "step", step, "source", fmt.Sprintf("%dx%d", w, h), "sent", sent)
		} else {
			s.log.Info("sending a larger picture", "estimate_bps", bps, "step", step, "source", fmt.Sprintf("%dx%d", w, h), "sent", sent)
		}
	}
	if sw == w && sh == h {
		return f
	}
	if s.scaler == nil || !s.scaler.Fits(w, h, sw, sh) {
		s.scaler = scale.New(w, h, sw, sh)
	}
	f.Image = s.scaler.Scale(f.Image)
	return f
}

// readPathsLocked reads every session's estimate and congestion signal for the ladder.
func (s *stream) readPathsLocked() []pathReading {
	paths := make([]pathReading, 0, len(s.bitrates))
	for sid, bps := range s.bitrates {
		paths = append(paths, pathReading{bps: bps, congested: s.paths[sid].congested()})
	}
	return paths
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// encoderFor returns an encoder sized for f, opening a new one when the size changed. The
// new encoder starts at the bitrate the network allows now, not at its cold-start default.
func (s *stream) encoderFor(f media.Frame) (media.Encoder, error) {
	w, h := f.Size()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enc != nil && s.encCfg.Width == w && s.encCfg.Height == h {
		return s.enc, nil
	}
	if s.enc != nil {
		s.log.Info("frame size changed; reopening the encoder", "from", fmt.Sprintf("%dx%d", s.encCfg.Width, s.encCfg.Height), "to", fmt.Sprintf("%dx%d", w, h))
		_ = s.enc.Close()
		s.enc = nil
	}
	cfg := s.base
	cfg.Width, cfg.Height = w, h
	cfg = cfg.WithDefaults()
	if lowest := s.lowestLocked(); lowest > 0 {
		cfg.StartBitrate = cfg.ClampBitrate(lowest)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enc, err := s.newEncoder(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: start %s encoder at %dx%d: %w", cfg.Codec, w, h, err)
	}
	s.enc, s.encCfg = enc, cfg
	return enc, nil
}

func (s *stream) closeEncoder() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enc != nil {
		_ = s.enc.Close()
		s.enc = nil
	}
}

// maxProbesPerSession bounds what a console can make the stream remember.
const maxProbesPerSession = 32

// probe notes that session sid's console wants to know the first frame that changes from now.
func (s *stream) probe(sid string, id uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probes == nil {
		s.probes = make(probeAnswers)
	}
	if p := s.probes[sid]; len(p) < maxProbesPerSession {
		s.probes[sid] = append(p, id)
	}
}

// answers returns the probes f answers — all waiting ones, when f changed from the previous
// frame (an encoded frame always counts as changed) — and forgets them.
func (s *stream) answers(f media.Frame) probeAnswers {
	changed := true
	if f.Image != nil {
		look := lookAt(s.seed, f.Image)
		changed, s.lastLook = look != s.lastLook, look
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !changed || len(s.probes) == 0 {
		return nil
	}
	a := s.probes
	s.probes = nil
	return a
}

// requestKeyframe asks for a keyframe (new viewer, PLI, FIR); the encoder throttles. The
// source is asked for a picture at once, so the keyframe does not wait for its next tick.
func (s *stream) requestKeyframe() {
	s.mu.Lock()
	if s.enc != nil {
		s.enc.ForceKeyFrame()
	}
	s.mu.Unlock()
	s.src.Refresh()
}

// setBitrate records one session's estimate and sets the encoder to the lowest of them: with
// several viewers the stream must fit the worst path.
func (s *stream) setBitrate(session string, bps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bps <= 0 {
		delete(s.bitrates, session)
		delete(s.paths, session)
	} else {
		s.bitrates[session] = bps
		s.paths[session].poll()
	}
	if lowest := s.lowestLocked(); lowest > 0 && s.enc != nil {
		s.enc.SetBitrate(lowest)
		s.metrics.TargetBitrate.Set(float64(lowest))
	}
}

// watchPath lets the ladder read session's congestion from its estimator's statistics.
func (s *stream) watchPath(session string, est gccStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths[session] = &gccWatch{est: est}
}

func (s *stream) lowestLocked() int {
	lowest := 0
	for _, b := range s.bitrates {
		if lowest == 0 || b < lowest {
			lowest = b
		}
	}
	return lowest
}

// stop ends the encode loop and waits for it.
func (s *stream) stop() {
	s.cancel()
	<-s.done
}
