package sfu

import (
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

// h264Capability is the upstream codec the unit tests forward.
func h264Capability() webrtc.RTPCodecCapability {
	return VideoCodecs("")[0].RTPCodecCapability
}

// streamGen makes a synthetic H.264 RTP stream the way pion's packetizer cuts the agent's
// frames: a keyframe is a STAP-A with SPS and PPS, then FU-A fragments of the IDR; a delta
// frame is FU-A fragments of a slice; the last packet of each frame has the marker bit.
type streamGen struct {
	ssrc uint32
	seq  uint16
	ts   uint32
	n    int // frames made
	// ext, when set, adds these upstream header extensions (ID → payload) to every packet.
	ext map[uint8][]byte
}

func (g *streamGen) frame(key bool, packets, size int) []*rtp.Packet {
	var out []*rtp.Packet
	add := func(payload []byte) {
		p := &rtp.Packet{Header: rtp.Header{
			Version: 2, PayloadType: PayloadTypeH264, SequenceNumber: g.seq, Timestamp: g.ts, SSRC: g.ssrc,
		}, Payload: payload}
		for id, b := range g.ext {
			_ = p.SetExtension(id, b)
		}
		g.seq++
		out = append(out, p)
	}
	nal := byte(0x01) // non-IDR slice
	if key {
		sps, pps := []byte{0x67, 0x42, 0xe0, 0x1f}, []byte{0x68, 0xce, 0x3c, 0x80}
		stap := []byte{0x78}
		stap = binary.BigEndian.AppendUint16(stap, uint16(len(sps)))
		stap = append(stap, sps...)
		stap = binary.BigEndian.AppendUint16(stap, uint16(len(pps)))
		stap = append(stap, pps...)
		add(stap)
		packets--
		nal = 0x05
	}
	for i := range packets {
		fu := make([]byte, size)
		fu[0] = 0x7c // FU-A, NRI 3
		fu[1] = nal
		if i == 0 {
			fu[1] |= 0x80
		}
		if i == packets-1 {
			fu[1] |= 0x40
		}
		add(fu)
	}
	out[len(out)-1].Marker = true
	g.ts += 3000 // 30 fps at 90 kHz
	g.n++
	return out
}

// sent is one packet a fake connection was asked to send.
type sent struct {
	h       rtp.Header
	payload []byte
}

// fakeWriter is a viewer connection's write stream. While down it drops writes the way
// pion does before DTLS is up: 0 bytes, no error.
type fakeWriter struct {
	mu   sync.Mutex
	pkts []sent
	down atomic.Bool
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.down.Load() {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pkts = append(w.pkts, sent{h: h.Clone(), payload: append([]byte(nil), payload...)})
	return h.MarshalSize() + len(payload), nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *fakeWriter) sent() []sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sent(nil), w.pkts...)
}

// fakeRTCP is a sender's RTCP reader fed by the test; closing it ends the reader as pion's
// closed stream does.
type fakeRTCP struct {
	in   chan []byte
	once sync.Once
}

func newFakeRTCP() *fakeRTCP { return &fakeRTCP{in: make(chan []byte, 16)} }

func (r *fakeRTCP) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	p, ok := <-r.in
	if !ok {
		return 0, nil, io.EOF
	}
	return copy(b, p), a, nil
}

func (r *fakeRTCP) send(t *testing.T, pkts ...rtcp.Packet) {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	require.NoError(t, err)
	r.in <- b
}

func (r *fakeRTCP) close() { r.once.Do(func() { close(r.in) }) }

// fakeContext is what pion hands a track on Bind.
type fakeContext struct {
	id     string
	ssrc   webrtc.SSRC
	codecs []webrtc.RTPCodecParameters
	exts   []webrtc.RTPHeaderExtensionParameter
	w      *fakeWriter
	rtcp   *fakeRTCP
	// writer, when set, replaces w (benchmarks discard).
	writer webrtc.TrackLocalWriter
}

func (c *fakeContext) CodecParameters() []webrtc.RTPCodecParameters           { return c.codecs }
func (c *fakeContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return c.exts }
func (c *fakeContext) SSRC() webrtc.SSRC                                      { return c.ssrc }
func (c *fakeContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c *fakeContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c *fakeContext) WriteStream() webrtc.TrackLocalWriter {
	if c.writer != nil {
		return c.writer
	}
	return c.w
}
func (c *fakeContext) ID() string                         { return c.id }
func (c *fakeContext) RTCPReader() interceptor.RTCPReader { return c.rtcp }

// fakeEstimator is a bandwidth estimate the test sets.
type fakeEstimator struct{ bps atomic.Int64 }

func (e *fakeEstimator) GetTargetBitrate() int { return int(e.bps.Load()) }

// bench is a forwarder on a hand-driven clock with a counter of upstream requests.
type bench struct {
	t        *testing.T
	clock    *mediatest.Clock
	f        *Forwarder
	requests atomic.Int32
	nextSSRC webrtc.SSRC
}

func newBench(t *testing.T, cfg Config) *bench {
	t.Helper()
	b := &bench{t: t, clock: mediatest.NewClock(time.Unix(1_000_000, 0))}
	if cfg.Codec.MimeType == "" {
		cfg.Codec = h264Capability()
	}
	cfg.Clock = b.clock
	cfg.OnKeyframeRequest = func() { b.requests.Add(1) }
	f, err := NewForwarder(cfg)
	require.NoError(t, err)
	b.f = f
	t.Cleanup(f.Close)
	return b
}

// boundViewer is a viewer bound to a fake connection.
type boundViewer struct {
	v   *Viewer
	ctx *fakeContext
}

// addViewer adds and binds a viewer whose connection negotiated codecs (nil: the defaults
// with H.264 as payload type 100) and exts.
func (b *bench) addViewer(id string, est Estimator, codecs []webrtc.RTPCodecParameters, exts []webrtc.RTPHeaderExtensionParameter) *boundViewer {
	b.t.Helper()
	if codecs == nil {
		codecs = VideoCodecs("")
		codecs[0].PayloadType = 100
	}
	v, err := b.f.AddViewer(ViewerConfig{ID: id, Estimator: est})
	require.NoError(b.t, err)
	b.nextSSRC++
	ctx := &fakeContext{id: id, ssrc: 0xabc00000 + b.nextSSRC, codecs: codecs, exts: exts, w: &fakeWriter{}, rtcp: newFakeRTCP()}
	_, err = v.Bind(ctx)
	require.NoError(b.t, err)
	b.t.Cleanup(func() {
		ctx.rtcp.close()
		v.Close()
		<-v.Done()
	})
	return &boundViewer{v: v, ctx: ctx}
}

// write feeds packets to the forwarder, advancing the clock by step before each frame.
func (b *bench) write(pkts []*rtp.Packet) {
	b.t.Helper()
	for _, p := range pkts {
		require.NoError(b.t, b.f.WriteRTP(p))
	}
}

// run feeds n frames of packets packets, a frame every 33 ms; key(i) tells whether the
// generator's frame i (counted from its first) is a keyframe.
func (b *bench) run(g *streamGen, n, packets, size int, key func(i int) bool) {
	b.t.Helper()
	for range n {
		b.clock.Advance(33 * time.Millisecond)
		b.write(g.frame(key(g.n), packets, size))
	}
}

// assertContiguous checks a viewer's packets are numbered one after another.
func assertContiguous(t *testing.T, pkts []sent) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		require.Equal(t, pkts[i-1].h.SequenceNumber+1, pkts[i].h.SequenceNumber, "packet %d follows packet %d", i, i-1)
	}
}
