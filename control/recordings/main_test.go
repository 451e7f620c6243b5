package recordings

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/recording"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is an organization with a device and a console session, a store and a service
// writing into a temporary recordings directory, on a settable clock.
type fixture struct {
	dbDir   string
	st      store.Store
	svc     *Service
	dir     string
	org     store.Organization
	device  store.Device
	session store.ConsoleSession
	now     time.Time
}

func newFixture(t *testing.T, policy store.RecordingPolicy) *fixture {
	t.Helper()
	ctx := context.Background()
	dbDir := t.TempDir()
	_, err := sqlite.Migrate(ctx, dbDir)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dbDir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{dbDir: dbDir, st: st, dir: t.TempDir(), now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	f.org, err = st.CreateOrganization(ctx, store.Organization{Name: "Acme", Slug: "acme", CreatedAt: f.now,
		Settings: store.OrgSettings{IdleTimeout: time.Minute, MaxSessionDuration: time.Hour, Recording: policy}})
	require.NoError(t, err)
	f.session = f.newSession(t)
	f.svc, err = New(Config{Store: st, RecordingsDir: f.dir, Now: func() time.Time { return f.now }})
	require.NoError(t, err)
	return f
}

func (f *fixture) newSession(t *testing.T) store.ConsoleSession {
	t.Helper()
	ctx := context.Background()
	var s store.ConsoleSession
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		var err error
		if f.device.ID == "" {
			if f.device, err = tx.CreateDevice(ctx, store.Device{Name: "pc-1", CreatedAt: f.now}); err != nil {
				return err
			}
		}
		s, err = tx.CreateSession(ctx, store.ConsoleSession{DeviceID: f.device.ID, Principal: "user:ann", Desired: store.SessionActive,
			CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)})
		return err
	}))
	return s
}

// setOrg changes the organization's settings.
func (f *fixture) setOrg(t *testing.T, change func(*store.OrgSettings)) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		o, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		change(&o.Settings)
		return tx.UpdateSettings(ctx, o.Settings)
	}))
}

// audit returns the organization's audit entries of action, in order.
func (f *fixture) audit(t *testing.T, action store.AuditAction) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	require.NoError(t, f.st.Read(context.Background(), f.org.ID, func(tx store.Tx) error {
		es, err := tx.Audit(context.Background(), 0, 10000)
		for _, e := range es {
			if e.Record.Action == action {
				out = append(out, e.Record)
			}
		}
		return err
	}))
	return out
}

// record writes a real recording as the relay will: Begin's plan into recording.New, a
// short H.264 stream of the repo's test pattern, a control event, Close, then Finish.
func (f *fixture) record(t *testing.T, frames int) (Plan, recording.Summary, store.Recording) {
	t.Helper()
	ctx := context.Background()
	plan, err := f.svc.Begin(ctx, f.org.ID, f.session.ID)
	require.NoError(t, err)
	require.True(t, plan.Record)
	rec, err := recording.New(recording.Config{Dir: plan.Dir, ID: plan.ID, Codec: "video/H264", CaptureKeys: plan.CaptureKeys,
		Now: func() time.Time { return f.now }})
	require.NoError(t, err)
	for _, p := range h264Packets(t, frames) {
		require.NoError(t, rec.WriteRTP(p))
	}
	sum, err := rec.Close()
	require.NoError(t, err)
	require.Positive(t, sum.Frames)
	r, err := f.svc.Finish(ctx, f.org.ID, plan.ID, sum, []store.Participant{{Name: "ann@example.com", Principal: "user:ann", Grant: "admin"}})
	require.NoError(t, err)
	return plan, sum, r
}

// h264Packets encodes frames of the test pattern (640x360, 30 fps) with the repo's H.264
// encoder and packetizes them as the agent does (the recording package's tests do the same).
func h264Packets(tb testing.TB, frames int) []*rtp.Packet {
	tb.Helper()
	const fps, clockRate, width, height = 30, 90000, 640, 360
	clock := mediatest.NewClock(time.Unix(1_700_000_000, 0))
	enc, err := encoders.New(media.EncoderConfig{Codec: media.CodecH264, Width: width, Height: height, FPS: fps,
		StartBitrate: 300_000, MinBitrate: 300_000, MaxBitrate: 300_000, Threads: 1, Clock: clock})
	if errors.Is(err, media.ErrCodecUnavailable) {
		tb.Skip("H.264 encoder not in this build (cgo, libx264)")
	}
	require.NoError(tb, err)
	defer enc.Close()
	src, err := testpattern.New(testpattern.Config{Width: width, Height: height, FPS: fps, Motion: testpattern.MotionFull, Clock: clock})
	require.NoError(tb, err)
	defer src.Close()
	packetizer := rtp.NewPacketizer(1200, 102, 0x1234abcd, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), clockRate)
	var out []*rtp.Packet
	for range frames {
		fr, err := src.Next(context.Background())
		require.NoError(tb, err)
		ef, err := enc.Encode(fr)
		require.NoError(tb, err)
		out = append(out, packetizer.Packetize(ef.Data, clockRate/fps)...)
		clock.Advance(time.Second / fps)
	}
	return out
}
