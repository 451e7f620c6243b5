package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// discardWriter is a viewer connection that sends nothing: the benchmark measures the
// forwarder, not SRTP and sockets.
type discardWriter struct{}

func (discardWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return h.MarshalSize() + len(payload), nil
}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkForward measures one upstream packet (1,100 bytes, with the agent's playout-delay
// and abs-capture-time extensions) fanned out to 1, 5 and 20 viewers: ns per packet per
// viewer, and allocations per upstream packet. A frame is 6 packets, a keyframe every 300.
func BenchmarkForward(b *testing.B) {
	for _, viewers := range []int{1, 5, 20} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) {
			f, err := NewForwarder(Config{
				Codec: h264Capability(),
				HeaderExtensions: []webrtc.RTPHeaderExtensionParameter{
					{URI: PlayoutDelayURI, ID: 5}, {URI: AbsCaptureTimeURI, ID: 6},
				},
			})
			require.NoError(b, err)
			defer f.Close()
			for i := range viewers {
				v, err := f.AddViewer(ViewerConfig{ID: fmt.Sprint(i), Estimator: &fakeEstimator{}})
				require.NoError(b, err)
				rtcpIn := newFakeRTCP()
				_, err = v.Bind(&fakeContext{
					id: fmt.Sprint(i), ssrc: webrtc.SSRC(1000 + i), codecs: VideoCodecs(""), rtcp: rtcpIn, writer: discardWriter{},
					exts: []webrtc.RTPHeaderExtensionParameter{{URI: PlayoutDelayURI, ID: 2}, {URI: AbsCaptureTimeURI, ID: 3}},
				})
				require.NoError(b, err)
				defer func() { rtcpIn.close(); v.Close(); <-v.Done() }()
			}
			g := &streamGen{ssrc: 77, ext: map[uint8][]byte{5: {0, 0, 0}, 6: {1, 2, 3, 4, 5, 6, 7, 8}}}
			key := g.frame(true, 6, 1100)
			delta := g.frame(false, 6, 1100)
			seq, ts := uint16(0), uint32(0)

			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				frame := i / 6
				p := delta[i%6]
				if frame%300 == 0 {
					p = key[i%6]
				}
				if i%6 == 0 {
					ts += 3000
				}
				p.SequenceNumber, p.Timestamp = seq, ts
				seq++
				if err := f.WriteRTP(p); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(viewers), "ns/packet/viewer")
		})
	}
}
