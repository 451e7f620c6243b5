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

// captureClock carries the capture time of the frame being packetized from the stream to the
// interceptors of every peer connection the track is bound to. pion packetizes and writes a
// sample synchronously inside WriteSample, so the value set just before is the frame's.
type captureClock struct{ unixNano atomic.Int64 }

func (c *captureClock) set(t time.Time) { c.unixNano.Store(t.UnixNano()) }
func (c *captureClock) get() time.Time  { return time.Unix(0, c.unixNano.Load()) }

// latencyExtensions is an interceptor that stamps outgoing video packets with
// playout-delay min=max=0 (render frames as soon as they are decoded, no smoothing buffer)
// and abs-capture-time (when the source captured the frame) on the first packet of each frame.
type latencyExtensions struct {
	interceptor.NoOp
	clock *captureClock
}

type latencyExtensionsFactory struct{ clock *captureClock }

func (f latencyExtensionsFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &latencyExtensions{clock: f.clock}, nil
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
	if playoutID == 0 && captureID == 0 {
		return writer
	}
	var lastTS uint32
	first := true
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, attrs interceptor.Attributes) (int, error) {
		if playoutID != 0 {
			_ = h.SetExtension(playoutID, zeroPlayoutDelay[:])
		}
		if captureID != 0 && (first || h.Timestamp != lastTS) {
			first, lastTS = false, h.Timestamp
			if b, err := rtp.NewAbsCaptureTimeExtension(l.clock.get()).Marshal(); err == nil {
				_ = h.SetExtension(captureID, b)
			}
		}
		return writer.Write(h, payload, attrs)
	})
}
