package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

// receiver plays a browser: pion's default codecs and interceptors (NACKs, receiver reports,
// transport-wide feedback), frames reassembled, a frame decodable only if every frame since
// the last keyframe arrived whole, a PLI every 300 ms while it cannot decode.
type receiver struct {
	pc        *webrtc.PeerConnection
	publisher *publisher

	mu        sync.Mutex
	decodable int
	keyframes int   // decodable keyframes
	firstAt   int64 // publisher's frame count at the first decodable frame; -1 before
	broken    bool
	plis      int
	done      chan struct{}
}

func newReceiver(t *testing.T, net *vnet.Net, pub *publisher) *receiver {
	t.Helper()
	m := &webrtc.MediaEngine{}
	require.NoError(t, m.RegisterDefaultCodecs())
	reg := &interceptor.Registry{}
	require.NoError(t, webrtc.RegisterDefaultInterceptors(m, reg))
	se := webrtc.SettingEngine{}
	se.SetNet(net)
	se.LoggerFactory = quietLogs()
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	r := &receiver{pc: pc, publisher: pub, firstAt: -1, broken: true, done: make(chan struct{})}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { r.receive(tr) })
	t.Cleanup(func() {
		_ = pc.Close()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("receiver loop did not end")
		}
	})
	return r
}

// receive reads the track until the connection closes.
func (r *receiver) receive(tr *webrtc.TrackRemote) {
	defer close(r.done)
	sb := samplebuilder.New(512, &codecs.H264Packet{}, tr.Codec().ClockRate, samplebuilder.WithMaxTimeDelay(time.Second))
	var lastPLI time.Time
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			key := annexBHasIDR(s.Data)
			r.mu.Lock()
			if s.PrevDroppedPackets > 0 {
				r.broken = true
			}
			if key {
				r.broken = false
			}
			if !r.broken {
				r.decodable++
				if key {
					r.keyframes++
				}
				if r.firstAt < 0 {
					r.firstAt = r.publisher.frames.Load()
				}
			}
			broken := r.broken
			r.mu.Unlock()
			if broken && time.Since(lastPLI) >= 300*time.Millisecond {
				lastPLI = time.Now()
				_ = r.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
				r.mu.Lock()
				r.plis++
				r.mu.Unlock()
			}
		}
	}
}

// counts returns decodable frames and keyframes so far, and the publisher's frame count at
// the first one.
func (r *receiver) counts() (decodable, keyframes int, firstAt int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.decodable, r.keyframes, r.firstAt
}

// annexBHasIDR reports whether an Annex-B access unit holds an IDR slice.
func annexBHasIDR(b []byte) bool {
	for _, n := range h264.SplitAnnexB(b) {
		if h264.NALType(n) == h264.NALIDRSlice {
			return true
		}
	}
	return false
}
