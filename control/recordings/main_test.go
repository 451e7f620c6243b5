package recordings_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/recordings/recordingstest"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/recording"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is an organization with a device and a console session, a store and a service
// writing into a temporary recordings directory, on a settable clock.
type fixture struct {
	dbDir   string
	st      store.Store
	svc     *recordings.Service
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
	f.svc, err = recordings.New(recordings.Config{Store: st, RecordingsDir: f.dir, Now: func() time.Time { return f.now }})
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

// record writes a real recording as the relay will (recordingstest.Record).
func (f *fixture) record(t *testing.T, frames int) (recordings.Plan, recording.Summary, store.Recording) {
	t.Helper()
	return recordingstest.Record(t, f.svc, f.org.ID, f.session.ID, frames, nil,
		[]store.Participant{{Name: "ann@example.com", Principal: "user:ann", Grant: "admin"}}, func() time.Time { return f.now })
}
