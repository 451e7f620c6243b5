package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// relaySide is what the relay will do with this package: one receive-only connection to the
// agent whose track feeds a Forwarder, one send-only connection per viewer with a Viewer on
// it.
type relaySide struct {
	t         *testing.T
	viewerAPI *ViewerAPI
	up        *webrtc.PeerConnection
	fwd       *Forwarder
	ready     chan struct{}
	reading   sync.WaitGroup
}

func startRelaySide(t *testing.T, net *vnet.Net, pub *publisher) *relaySide {
	t.Helper()
	upAPI, err := NewUpstreamAPI(APIConfig{Net: net, LoggerFactory: quietLogs()})
	require.NoError(t, err)
	viewerAPI, err := NewViewerAPI(APIConfig{Net: net, LoggerFactory: quietLogs()})
	require.NoError(t, err)
	up, err := upAPI.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	r := &relaySide{t: t, viewerAPI: viewerAPI, up: up, ready: make(chan struct{})}
	up.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		fwd, err := NewForwarder(Config{
			Codec:            tr.Codec().RTPCodecCapability,
			HeaderExtensions: rcv.GetParameters().HeaderExtensions,
			OnKeyframeRequest: func() {
				_ = up.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
			},
		})
		if err != nil {
			t.Errorf("forwarder: %v", err)
			return
		}
		r.fwd = fwd
		close(r.ready)
		r.reading.Go(func() {
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				_ = fwd.WriteRTP(p)
			}
		})
	})
	connect(t, pub.pc, up)
	select {
	case <-r.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("no upstream track")
	}
	t.Cleanup(func() {
		_ = up.Close()
		r.reading.Wait()
		r.fwd.Close()
	})
	return r
}

// addViewer connects a browser-like receiver on net through a Viewer.
func (r *relaySide) addViewer(id string, net *vnet.Net, pub *publisher) (*Viewer, *receiver) {
	t := r.t
	t.Helper()
	pc, est, err := r.viewerAPI.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	v, err := r.fwd.AddViewer(ViewerConfig{ID: id, Estimator: est})
	require.NoError(t, err)
	// A keyframe forwarded before DTLS was up was lost: ask as soon as it is, as the relay
	// will.
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			v.RequestKeyframe()
		}
	})
	_, err = pc.AddTrack(v)
	require.NoError(t, err)
	rcv := newReceiver(t, net, pub)
	connect(t, pc, rcv.pc)
	t.Cleanup(func() {
		_ = pc.Close()
		v.Close()
		select {
		case <-v.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("viewer %s: RTCP reader still running", id)
		}
	})
	return v, rcv
}
