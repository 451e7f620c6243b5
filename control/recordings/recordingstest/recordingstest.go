// Package recordingstest makes real recordings for tests: a short H.264 stream of the repo's
// test pattern, encoded and packetized as the agent does, written by the recording package
// through the recordings service as the relay will.
package recordingstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/recording"
)

// Stream geometry: the smallest size the test pattern draws.
const (
	FPS       = 30
	Width     = 640
	Height    = 360
	clockRate = 90000
)

// H264Packets encodes frames of the test pattern and packetizes them (RFC 6184). It skips
// the test when the build has no H.264 encoder.
func H264Packets(tb testing.TB, frames int) []*rtp.Packet {
	tb.Helper()
	clock := mediatest.NewClock(time.Unix(1_700_000_000, 0))
	enc, err := encoders.New(media.EncoderConfig{Codec: media.CodecH264, Width: Width, Height: Height, FPS: FPS,
		StartBitrate: 300_000, MinBitrate: 300_000, MaxBitrate: 300_000, Threads: 1, Clock: clock})
	if errors.Is(err, media.ErrCodecUnavailable) {
		tb.Skip("H.264 encoder not in this build (cgo, libx264)")
	}
	require.NoError(tb, err)
	defer enc.Close()
	src, err := testpattern.New(testpattern.Config{Width: Width, Height: Height, FPS: FPS, Motion: testpattern.MotionFull, Clock: clock})
	require.NoError(tb, err)
	defer src.Close()
	packetizer := rtp.NewPacketizer(1200, 102, 0x1234abcd, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), clockRate)
	var out []*rtp.Packet
	for range frames {
		fr, err := src.Next(context.Background())
		require.NoError(tb, err)
		ef, err := enc.Encode(fr)
		require.NoError(tb, err)
		out = append(out, packetizer.Packetize(ef.Data, clockRate/FPS)...)
		clock.Advance(time.Second / FPS)
	}
	return out
}

// Timed is a timeline event added once the stream reached frame At.
type Timed struct {
	At    int
	Event recording.Event
}

// Record makes one whole recording of sessionID as the relay will: Begin (the organization
// must record), recording.New with the plan, frames of video with events added on the way,
// Close, Finish with participants. now is the recorder's clock (nil: time.Now).
func Record(tb testing.TB, svc *recordings.Service, orgID, sessionID string, frames int, events []Timed,
	participants []store.Participant, now func() time.Time) (recordings.Plan, recording.Summary, store.Recording) {
	tb.Helper()
	ctx := context.Background()
	plan, err := svc.Begin(ctx, orgID, sessionID)
	require.NoError(tb, err)
	require.True(tb, plan.Record, "the organization records")
	rec, err := recording.New(recording.Config{Dir: plan.Dir, ID: plan.ID, Codec: "video/H264", CaptureKeys: plan.CaptureKeys, Now: now})
	require.NoError(tb, err)
	start := time.Now()
	if now != nil {
		start = now()
	}
	packets := H264Packets(tb, frames)
	frame := -1
	var ts uint32
	for _, p := range packets {
		if frame < 0 || p.Timestamp != ts {
			frame, ts = frame+1, p.Timestamp
			for _, e := range events {
				if e.At == frame {
					at := start.Add(time.Duration(frame) * time.Second / FPS)
					require.NoError(tb, rec.AddEvent(at, e.Event))
				}
			}
		}
		require.NoError(tb, rec.WriteRTP(p))
	}
	sum, err := rec.Close()
	require.NoError(tb, err)
	require.Positive(tb, sum.Frames)
	r, err := svc.Finish(ctx, orgID, plan.ID, sum, participants)
	require.NoError(tb, err)
	return plan, sum, r
}
