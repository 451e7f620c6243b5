package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestViewerWaitsForKeyframe(t *testing.T) {
	b := newBench(t, Config{})
	bv := b.addViewer("a", nil, nil, nil)
	require.Eventually(t, func() bool { return b.requests.Load() == 1 }, 5*time.Second, time.Millisecond, "joining asks for a keyframe")

	g := &streamGen{ssrc: 1111, seq: 65530, ts: 4000}
	b.run(g, 3, 3, 200, func(int) bool { return false })
	assert.Empty(t, bv.ctx.w.sent(), "nothing before a keyframe")

	b.run(g, 3, 4, 200, func(i int) bool { return i == 3 })
	got := bv.ctx.w.sent()
	require.Len(t, got, 4+4+4)
	assert.Equal(t, byte(0x78), got[0].payload[0], "starts at the keyframe's STAP-A")
	assertContiguous(t, got)
	for i, p := range got {
		assert.Equal(t, uint8(100), p.h.PayloadType, "packet %d has the viewer's payload type", i)
		assert.Equal(t, uint32(bv.ctx.ssrc), p.h.SSRC, "packet %d has the viewer's SSRC", i)
		assert.Equal(t, i%4 == 3, p.h.Marker, "packet %d marker", i)
	}
	assert.Equal(t, uint32(4000+3*3000), got[0].h.Timestamp, "timestamps pass unchanged")

	st := bv.v.Stats()
	assert.Equal(t, uint64(3), st.FramesSent)
	assert.Equal(t, uint64(3), st.FramesDropped, "the delta frames before the keyframe")
	assert.Equal(t, uint64(1), st.KeyframesSent)
	assert.Equal(t, uint64(12), st.PacketsSent)
	assert.False(t, st.WaitingForKeyframe)
	fs := b.f.Stats()
	assert.Equal(t, uint64(6), fs.FramesReceived)
	assert.Equal(t, uint64(1), fs.KeyframesReceived)
	assert.Equal(t, 1, fs.Viewers)
}

func TestViewerRewritesPerBinding(t *testing.T) {
	playout, capture := []byte{0, 0, 0}, []byte{1, 2, 3, 4, 5, 6, 7, 8}
	b := newBench(t, Config{HeaderExtensions: []webrtc.RTPHeaderExtensionParameter{
		{URI: sdp.TransportCCURI, ID: 3}, {URI: PlayoutDelayURI, ID: 5}, {URI: AbsCaptureTimeURI, ID: 6},
	}})
	one := b.addViewer("one-byte", nil, nil, []webrtc.RTPHeaderExtensionParameter{
		{URI: sdp.TransportCCURI, ID: 1}, {URI: PlayoutDelayURI, ID: 2}, {URI: AbsCaptureTimeURI, ID: 4},
	})
	vp8First := VideoCodecs("")
	vp8First[0], vp8First[1] = vp8First[1], vp8First[0]
	vp8First[1].PayloadType = 121
	two := b.addViewer("two-byte", nil, vp8First, []webrtc.RTPHeaderExtensionParameter{{URI: AbsCaptureTimeURI, ID: 15}})
	none := b.addViewer("none", nil, nil, nil)

	g := &streamGen{ssrc: 7, ext: map[uint8][]byte{3: {9, 9}, 5: playout, 6: capture}}
	b.run(g, 2, 3, 100, func(i int) bool { return i == 0 })

	p1 := one.ctx.w.sent()
	require.Len(t, p1, 6)
	assert.Equal(t, playout, p1[0].h.GetExtension(2))
	assert.Equal(t, capture, p1[0].h.GetExtension(4))
	assert.Nil(t, p1[0].h.GetExtension(1), "transport-cc is the viewer connection's own")
	assert.Nil(t, p1[0].h.GetExtension(3), "upstream IDs do not leak")
	assert.Equal(t, uint16(rtp.ExtensionProfileOneByte), p1[0].h.ExtensionProfile)

	p2 := two.ctx.w.sent()
	require.Len(t, p2, 6)
	assert.Equal(t, uint8(121), p2[0].h.PayloadType, "H.264 found after VP8")
	assert.Equal(t, capture, p2[0].h.GetExtension(15))
	assert.Nil(t, p2[0].h.GetExtension(2))
	assert.Equal(t, uint16(rtp.ExtensionProfileTwoByte), p2[0].h.ExtensionProfile, "ID 15 needs two-byte headers")
	_, err := p2[0].h.Marshal()
	require.NoError(t, err)

	p3 := none.ctx.w.sent()
	require.Len(t, p3, 6)
	assert.False(t, p3[0].h.Extension)
	assert.NotEqual(t, p1[0].h.SSRC, p2[0].h.SSRC)
}

// TestKeyframesOnlyForSlowViewer: at ~1.5 Mbit/s, a viewer whose estimate is 200 kbit/s goes
// keyframes-only while a fast one gets every frame; both stay contiguous; the slow one asks
// for keyframes every few seconds, and returns to the full stream at a keyframe once its
// estimate has recovered long enough.
func TestKeyframesOnlyForSlowViewer(t *testing.T) {
	b := newBench(t, Config{})
	fastEst, slowEst := &fakeEstimator{}, &fakeEstimator{}
	fastEst.bps.Store(10_000_000)
	slowEst.bps.Store(200_000)
	fast := b.addViewer("fast", fastEst, nil, nil)
	slow := b.addViewer("slow", slowEst, nil, nil)
	g := &streamGen{ssrc: 42, seq: 60000}
	everyFourSeconds := func(i int) bool { return i%120 == 0 }

	b.run(g, 300, 6, 1000, everyFourSeconds) // 10 s
	fs := b.f.Stats()
	assert.InEpsilon(t, 6*1012*8*30, fs.BitrateBps, 0.1, "upstream bitrate")
	ss := slow.v.Stats()
	require.True(t, ss.KeyframesOnly)
	assert.Equal(t, 1, ss.KeyframesOnlyEntered)
	assert.InDelta(t, 8, ss.KeyframesOnlyTime.Seconds(), 0.2, "entered after a second of measuring and a second below")
	assert.Equal(t, uint64(3), ss.KeyframesSent)
	fullFrames := 300 - int(ss.KeyframesOnlyTime/(33*time.Millisecond))
	assert.InDelta(t, fullFrames+2, int(ss.FramesSent), 2, "every frame until then, then the two keyframes since")
	assert.InDelta(t, 300, int(ss.FramesSent+ss.FramesDropped), 1, "a dropped frame is counted when the next starts")
	assert.GreaterOrEqual(t, ss.KeyframeAsks, uint64(2), "the join and at least one refresh")
	fst := fast.v.Stats()
	assert.False(t, fst.KeyframesOnly)
	assert.Equal(t, uint64(300), fst.FramesSent)
	assert.Zero(t, fst.FramesDropped)
	assertContiguous(t, slow.ctx.w.sent())
	for _, p := range slow.ctx.w.sent() {
		if p.h.Timestamp >= 70*3000 { // after it went keyframes-only
			require.Contains(t, []uint32{120 * 3000, 240 * 3000}, p.h.Timestamp, "only keyframes' packets")
		}
	}

	// The link recovers: after the minimum stay and the hold, the viewer asks for a keyframe
	// and is back on the full stream from the next.
	slowEst.bps.Store(10_000_000)
	before := len(slow.ctx.w.sent())
	b.run(g, 150, 6, 1000, func(i int) bool { return i%60 == 0 }) // 5 s
	ss = slow.v.Stats()
	assert.False(t, ss.KeyframesOnly)
	assert.Equal(t, 1, ss.KeyframesOnlyEntered)
	after := slow.ctx.w.sent()
	assertContiguous(t, after)
	var frames []uint32
	for _, p := range after[before:] {
		if len(frames) == 0 || frames[len(frames)-1] != p.h.Timestamp {
			frames = append(frames, p.h.Timestamp)
		}
	}
	require.NotEmpty(t, frames)
	// Keyframes alone until the return, then every frame.
	k := len(frames) - 1
	for k > 0 && frames[k-1]+3000 == frames[k] {
		k--
	}
	for _, ts := range frames[:k] {
		assert.Zero(t, ts%(60*3000), "a keyframe before the return")
	}
	back := int(frames[k] / 3000)
	assert.Zero(t, back%60, "back at a keyframe")
	assert.GreaterOrEqual(t, back, 360, "not before the estimate held for UpHold")
	assert.Equal(t, 450-back, len(frames)-k, "and every frame since")
	assertContiguous(t, fast.ctx.w.sent())
}

// TestViewerTransportNotUp: pion drops writes until DTLS is up; a keyframe written then is
// lost, so the viewer waits for the next one, asks again, and numbers on without a gap.
func TestViewerTransportNotUp(t *testing.T) {
	b := newBench(t, Config{})
	bv := b.addViewer("late-dtls", nil, nil, nil)
	bv.ctx.w.down.Store(true)
	g := &streamGen{ssrc: 5}
	b.run(g, 2, 3, 100, func(i int) bool { return i == 0 })
	st := bv.v.Stats()
	assert.True(t, st.WaitingForKeyframe)
	assert.Zero(t, st.PacketsSent)
	asks := st.KeyframeAsks

	bv.ctx.w.down.Store(false)
	b.run(g, 40, 3, 100, func(i int) bool { return i == 37 })
	got := bv.ctx.w.sent()
	require.Len(t, got, 5*3)
	assert.Equal(t, byte(0x78), got[0].payload[0])
	assertContiguous(t, got)
	st = bv.v.Stats()
	assert.Greater(t, st.KeyframeAsks, asks, "asked again while waiting")
	assert.False(t, st.WaitingForKeyframe)
}

// TestUpstreamRestart: the agent reconnects with a new SSRC, numbering and clock; viewers
// wait for its first keyframe and continue their own numbering and clock.
func TestUpstreamRestart(t *testing.T) {
	b := newBench(t, Config{})
	bv := b.addViewer("a", nil, nil, nil)
	first := &streamGen{ssrc: 1, seq: 100, ts: 1000}
	b.run(first, 5, 3, 100, func(i int) bool { return i == 0 })
	before := bv.ctx.w.sent()
	require.Len(t, before, 15)
	last := before[len(before)-1]

	second := &streamGen{ssrc: 2, seq: 40000, ts: 900_000_000}
	b.run(second, 2, 3, 100, func(int) bool { return false }) // nothing to decode from
	assert.Len(t, bv.ctx.w.sent(), 15)
	b.run(second, 2, 3, 100, func(i int) bool { return i == 2 })
	got := bv.ctx.w.sent()
	require.Len(t, got, 15+6)
	assertContiguous(t, got)
	assert.Equal(t, byte(0x78), got[15].payload[0])
	// The new clock is placed at the new numbering's first packet, 33 ms after the last one
	// sent; the keyframe came two upstream frames later.
	assert.InDelta(t, 33*90+2*3000, int(got[15].h.Timestamp-last.h.Timestamp), 2)
	assert.Equal(t, uint32(3000), got[18].h.Timestamp-got[15].h.Timestamp)
	assert.Equal(t, uint64(1), b.f.Stats().Restarts)
}

// TestLatePacketFillsGap: a packet the upstream lost and the relay recovered arrives after
// newer ones; it is sent under the number its place had.
func TestLatePacketFillsGap(t *testing.T) {
	b := newBench(t, Config{})
	bv := b.addViewer("a", nil, nil, nil)
	g := &streamGen{ssrc: 9}
	key := g.frame(true, 5, 100)
	next := g.frame(false, 3, 100)
	b.write(key[:2])
	b.write(key[3:])
	b.write(next)
	b.write(key[2:3])
	got := bv.ctx.w.sent()
	require.Len(t, got, 8)
	assert.Equal(t, got[1].h.SequenceNumber+2, got[2].h.SequenceNumber, "the gap is kept for the receiver to NACK")
	assert.Equal(t, got[1].h.SequenceNumber+1, got[7].h.SequenceNumber, "the late packet fills it")
	assert.Equal(t, key[2].Payload, got[7].payload)
	assert.Equal(t, uint64(1), b.f.Stats().LatePackets)
}

// TestKeyframeRequestAggregation: ten viewers joining, then ten viewers' PLIs within one
// interval, each make one upstream request when the keyframe they wait for arrives.
func TestKeyframeRequestAggregation(t *testing.T) {
	b := newBench(t, Config{})
	var viewers []*boundViewer
	for _, id := range []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"} {
		viewers = append(viewers, b.addViewer(id, nil, nil, nil))
	}
	require.Eventually(t, func() bool { return b.requests.Load() == 1 }, 5*time.Second, time.Millisecond)
	g := &streamGen{ssrc: 3}
	b.run(g, 3, 3, 100, func(i int) bool { return i == 0 })
	b.clock.Advance(time.Second)
	assert.Never(t, func() bool { return b.requests.Load() != 1 }, 200*time.Millisecond, 5*time.Millisecond,
		"the keyframe answered the nine joins that waited")

	for _, v := range viewers {
		v.ctx.rtcp.send(t, &rtcp.PictureLossIndication{MediaSSRC: uint32(v.ctx.ssrc)})
	}
	require.Eventually(t, func() bool { return b.f.Stats().KeyframeRequestsAsked == 20 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return b.requests.Load() == 2 }, 5*time.Second, time.Millisecond)
	b.run(g, 3, 3, 100, func(i int) bool { return i == 3 })
	b.clock.Advance(time.Second)
	assert.Never(t, func() bool { return b.requests.Load() != 2 }, 200*time.Millisecond, 5*time.Millisecond,
		"ten PLIs within the interval: one request")
	fs := b.f.Stats()
	assert.Equal(t, uint64(2), fs.KeyframeRequestsSent)
	for _, v := range viewers {
		assert.Equal(t, uint64(1), v.v.Stats().KeyframeRequests)
	}
}

func TestViewerRTCPStats(t *testing.T) {
	b := newBench(t, Config{})
	bv := b.addViewer("a", nil, nil, nil)
	ssrc := uint32(bv.ctx.ssrc)
	bv.ctx.rtcp.send(t,
		&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: 10, LostPackets: 0b101}}},
		&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: ssrc, FractionLost: 64}}},
		&rtcp.FullIntraRequest{MediaSSRC: ssrc, FIR: []rtcp.FIREntry{{SSRC: ssrc}}},
	)
	require.Eventually(t, func() bool { return bv.v.Stats().KeyframeRequests == 1 }, 5*time.Second, time.Millisecond)
	st := bv.v.Stats()
	assert.Equal(t, uint64(3), st.NACKedPackets)
	assert.InDelta(t, 0.25, st.FractionLost, 1e-9)
}

func TestBindRejectsOtherCodec(t *testing.T) {
	b := newBench(t, Config{})
	v, err := b.f.AddViewer(ViewerConfig{ID: "vp8-only"})
	require.NoError(t, err)
	defer v.Close()
	_, err = v.Bind(&fakeContext{id: "x", codecs: VideoCodecs("")[1:], w: &fakeWriter{}, rtcp: newFakeRTCP()})
	require.ErrorIs(t, err, webrtc.ErrUnsupportedCodec)
}

func TestCloseStopsEverything(t *testing.T) {
	b := newBench(t, Config{})
	bv := b.addViewer("a", nil, nil, nil)
	b.f.Close()
	g := &streamGen{ssrc: 1}
	require.ErrorIs(t, b.f.WriteRTP(g.frame(true, 2, 10)[0]), ErrClosed)
	_, err := b.f.AddViewer(ViewerConfig{})
	require.ErrorIs(t, err, ErrClosed)
	select {
	case <-bv.v.Done():
		t.Fatal("done before its RTCP reader ended")
	default:
	}
	bv.ctx.rtcp.close()
	select {
	case <-bv.v.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the viewer never finished")
	}
	_, err = bv.v.Bind(&fakeContext{id: "again", codecs: VideoCodecs(""), w: &fakeWriter{}, rtcp: newFakeRTCP()})
	require.ErrorIs(t, err, ErrClosed)
}

func TestMatchCodec(t *testing.T) {
	h264 := func(fmtp string, pt webrtc.PayloadType) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp}, PayloadType: pt}
	}
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/vp8", ClockRate: 90000}, PayloadType: 96}
	stream := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "packetization-mode=1;profile-level-id=42e01f"}
	cases := []struct {
		name    string
		stream  webrtc.RTPCodecCapability
		offered []webrtc.RTPCodecParameters
		wantPT  webrtc.PayloadType
		wantOK  bool
	}{
		{"same profile, other level", stream, []webrtc.RTPCodecParameters{h264("profile-level-id=42e034;packetization-mode=1", 108)}, 108, true},
		{"exact beats profile_idc alone", stream, []webrtc.RTPCodecParameters{
			h264("packetization-mode=1;profile-level-id=4d001f", 100), h264("packetization-mode=1;profile-level-id=42001f", 101), h264("packetization-mode=1;profile-level-id=42e01f", 102),
		}, 102, true},
		{"profile_idc alone as a fallback", stream, []webrtc.RTPCodecParameters{h264("packetization-mode=1;profile-level-id=42001f", 101)}, 101, true},
		{"packetization mode must match", stream, []webrtc.RTPCodecParameters{h264("profile-level-id=42e01f", 97)}, 0, false},
		{"other profile", stream, []webrtc.RTPCodecParameters{h264("packetization-mode=1;profile-level-id=640c1f", 112)}, 0, false},
		{"vp8 by MIME type, any case", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, []webrtc.RTPCodecParameters{h264("", 1), vp8}, 96, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := matchCodec(tc.stream, tc.offered)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.wantPT, got.PayloadType)
		})
	}
}
