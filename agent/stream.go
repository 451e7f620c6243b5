package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/kvmrelay/kvmrelay/media"
)

// stream encodes the device's frames once for every session that watches them: one encoder,
// one TrackLocalStaticSample bound to each session's peer connection.
type stream struct {
	src     media.Source
	codec   media.Codec
	track   *webrtc.TrackLocalStaticSample
	enc     media.Encoder
	clock   *captureClock
	encCfg  media.EncoderConfig
	log     *slog.Logger
	metrics *Metrics

	mu       sync.Mutex
	bitrates map[string]int // session → its estimated available bitrate

	cancel context.CancelFunc
	done   chan struct{}
}

// EncoderFactory builds an encoder; cmd wires it to media/encoders.
type EncoderFactory func(cfg media.EncoderConfig) (media.Encoder, error)

func startStream(src media.Source, newEncoder EncoderFactory, encCfg media.EncoderConfig, log *slog.Logger, metrics *Metrics) (*stream, error) {
	capability, err := codecCapability(encCfg.Codec)
	if err != nil {
		return nil, err
	}
	enc, err := newEncoder(encCfg)
	if err != nil {
		return nil, fmt.Errorf("agent: start %s encoder: %w", encCfg.Codec, err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(capability, "video", "kvmrelay")
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("agent: video track: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{
		src: src, codec: encCfg.Codec, track: track, enc: enc, clock: &captureClock{}, encCfg: encCfg,
		log: log.With("codec", encCfg.Codec), metrics: metrics,
		bitrates: make(map[string]int), cancel: cancel, done: make(chan struct{}),
	}
	go s.run(ctx, src)
	return s, nil
}

// run pulls frames from the source as they come (damage-driven sources hand one over as soon
// as the picture changes), encodes and writes them. Nothing here waits for a tick: the time a
// key press takes to reach the screen is source + encode + network + decode, no more.
func (s *stream) run(ctx context.Context, src media.Source) {
	defer close(s.done)
	defer s.enc.Close()
	var last time.Time
	frameDuration := time.Second / time.Duration(max(1, s.encCfg.FPS))
	for {
		f, err := src.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, media.ErrClosed) {
				s.log.Error("video source failed", "err", err)
			}
			return
		}
		start := time.Now()
		ef, err := s.enc.Encode(f)
		if err != nil {
			s.log.Error("encode frame", "err", err)
			continue
		}
		encodeTime := time.Since(start)
		if len(ef.Data) == 0 {
			continue
		}
		// The RTP clock advances by real elapsed capture time, so a damage-driven frame 5 ms
		// after the last one is timestamped 5 ms later and the browser renders it at once.
		d := frameDuration
		if !last.IsZero() {
			d = max(f.CaptureTime.Sub(last), time.Millisecond)
		}
		last = f.CaptureTime
		s.clock.set(f.CaptureTime)
		if err := s.track.WriteSample(pionmedia.Sample{Data: ef.Data, Duration: d}); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Debug("write sample", "err", err)
		}
		s.metrics.observeFrame(encodeTime, len(ef.Data), ef.Keyframe)
		s.metrics.CaptureToSend.Observe(time.Since(f.CaptureTime).Seconds())
	}
}

// requestKeyframe asks for a keyframe (new viewer, PLI, FIR); the encoder throttles. A source
// that can is asked for a frame at once, so the keyframe does not wait for its next tick.
func (s *stream) requestKeyframe() {
	s.enc.ForceKeyFrame()
	if r, ok := s.src.(media.Refresher); ok {
		r.Refresh()
	}
}

// setBitrate records one session's estimate and sets the encoder to the lowest of them: with
// several viewers the stream must fit the worst path.
func (s *stream) setBitrate(session string, bps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bps <= 0 {
		delete(s.bitrates, session)
	} else {
		s.bitrates[session] = bps
	}
	lowest := 0
	for _, b := range s.bitrates {
		if lowest == 0 || b < lowest {
			lowest = b
		}
	}
	if lowest > 0 {
		s.enc.SetBitrate(lowest)
		s.metrics.TargetBitrate.Set(float64(lowest))
	}
}

// stop ends the encode loop and waits for it.
func (s *stream) stop() {
	s.cancel()
	<-s.done
}
