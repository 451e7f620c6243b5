package sfu

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// publisher plays the agent: the test pattern encoded by the repo's H.264 encoder at a fixed
// bitrate, sent on a peer connection, with a keyframe forced for every PLI or FIR.
type publisher struct {
	pc        *webrtc.PeerConnection
	frames    atomic.Int64
	keyframes atomic.Int64
	bytes     atomic.Int64
}

func startPublisher(t *testing.T, net *vnet.Net, width, height, fps, bps int) *publisher {
	t.Helper()
	enc, err := encoders.New(media.EncoderConfig{
		Codec: media.CodecH264, Width: width, Height: height, FPS: fps,
		StartBitrate: bps, MinBitrate: bps, MaxBitrate: bps, Threads: 1,
	})
	if errors.Is(err, media.ErrCodecUnavailable) {
		t.Skip("H.264 encoder not in this build (cgo, libx264)")
	}
	require.NoError(t, err)
	src, err := testpattern.New(testpattern.Config{Width: width, Height: height, FPS: fps, Motion: testpattern.MotionFull})
	require.NoError(t, err)

	api, err := NewViewerAPI(APIConfig{Net: net, LoggerFactory: quietLogs()})
	require.NoError(t, err)
	pc, _, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	track, err := webrtc.NewTrackLocalStaticSample(VideoCodecs("")[0].RTPCodecCapability, "video", "kvmrelay")
	require.NoError(t, err)
	sender, err := pc.AddTrack(track)
	require.NoError(t, err)
	p := &publisher{pc: pc}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, pkt := range pkts {
				switch pkt.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					enc.ForceKeyFrame()
				}
			}
		}
	})
	wg.Go(func() {
		frameDuration := time.Second / time.Duration(fps)
		for {
			f, err := src.Next(ctx)
			if err != nil {
				return
			}
			out, err := enc.Encode(f)
			if err != nil || len(out.Data) == 0 {
				continue
			}
			if err := track.WriteSample(pionmedia.Sample{Data: out.Data, Duration: frameDuration}); err != nil {
				return
			}
			p.frames.Add(1)
			p.bytes.Add(int64(len(out.Data)))
			if out.Keyframe {
				p.keyframes.Add(1)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		_ = pc.Close() // ends the RTCP reader
		wg.Wait()
		_ = src.Close()
		_ = enc.Close()
	})
	return p
}
