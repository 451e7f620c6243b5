package agent

import (
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// Header extension URIs the agent offers.
const (
	playoutDelayURI   = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
	absCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
)

// captureClock carries the capture time of the frame being packetized, and the probes it
// answers, from the stream to the interceptors of every peer connection the track is bound
// to. pion packetizes and writes a sample synchronously inside WriteSample, so the values set
// just before are the frame's.
type captureClock struct {
	unixNano atomic.Int64
	answers  atomic.Pointer[probeAnswers]
}

// probeAnswers are the probes (by session) that the frame being written answers: it is the
// first frame that changed after them.
type probeAnswers map[string][]uint32

func (c *captureClock) set(t time.Time, answers probeAnswers) {
	c.unixNano.Store(t.UnixNano())
	if len(answers) == 0 {
		c.answers.Store(nil)
	} else {
		c.answers.Store(&answers)
	}
}

func (c *captureClock) get() time.Time { return time.Unix(0, c.unixNano.Load()) }

// answered returns the probes of session sid the current frame answers.
func (c *captureClock) answered(sid string) []uint32 {
	if a := c.answers.Load(); a != nil {
		return (*a)[sid]
	}
	return nil
}

// latencyExtensions is an interceptor that stamps outgoing video packets with
// playout-delay min=max=0 (render frames as soon as they are decoded, no smoothing buffer)
// and abs-capture-time (when the source captured the frame) on the first packet of each frame.
//
// It also tells its session the RTP timestamp of a frame that answers the session's probes
// (the first frame that changed after an input event the console times).
type latencyExtensions struct {
	interceptor.NoOp
	clock *captureClock
	sid   string
	// onAnswer receives the probes a frame answers and that frame's RTP timestamp.
	onAnswer func(probes []uint32, rtpTimestamp uint32)
}

type latencyExtensionsFactory struct {
	clock    *captureClock
	sid      string
	onAnswer func(probes []uint32, rtpTimestamp uint32)
}

func (f latencyExtensionsFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &latencyExtensions{clock: f.clock, sid: f.sid, onAnswer: f.onAnswer}, nil
}

// zeroPlayoutDelay is the 3-byte playout-delay payload for min = max = 0.
var zeroPlayoutDelay = [3]byte{}

func (l *latencyExtensions) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var playoutID, captureID uint8
	for _, ext := range info.RTPHeaderExtensions {
		switch ext.URI {
		case playoutDelayURI:
			playoutID = uint8(ext.ID)
		case absCaptureTimeURI:
			captureID = uint8(ext.ID)
		}
	}

	var lastTS uint32
	first := true
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, attrs interceptor.Attributes) (int, error) {
		if playoutID != 0 {
			_ = h.SetExtension(playoutID, zeroPlayoutDelay[:])
		}
		if first || h.Timestamp != lastTS {
			first, lastTS = false, h.Timestamp
			if captureID != 0 {
				if b, err := rtp.NewAbsCaptureTimeExtension(l.clock.get()).Marshal(); err == nil {
					_ = h.SetExtension(captureID, b)
				}
			}
			if probes := l.clock.answered(l.sid); len(probes) > 0 && l.onAnswer != nil {
				l.onAnswer(probes, h.Timestamp)
			}
		}
		return writer.Write(h, payload, attrs)
	})
}
