package recordings_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestSweepRetention: recordings older than the organization's retention lose their files
// and rows, audited with their digest; newer ones, and one still being written, stay; an
// orphan file is swept by age.
func TestSweepRetention(t *testing.T) {
	f := newFixture(t, store.RecordingOn)
	f.setOrg(t, func(s *store.OrgSettings) { s.RecordingRetentionDays = 7 })
	start := f.now
	old, _, oldRow := f.record(t, 15)
	f.session = f.newSession(t)
	f.now = start.Add(5 * 24 * time.Hour)
	recent, _, _ := f.record(t, 15)
	f.session = f.newSession(t)
	live, err := f.svc.Begin(context.Background(), f.org.ID, f.session.ID)
	require.NoError(t, err)
	orphan := filepath.Join(f.dir, f.org.ID, "orphan-1.mp4")
	require.NoError(t, os.WriteFile(orphan, []byte("x"), 0o600))

	// The files' ages are what the disk says: make them match the story.
	age(t, f.svc.VideoPath(f.org.ID, old.ID), start)
	age(t, f.svc.TimelinePath(f.org.ID, old.ID), start)
	age(t, orphan, start)
	age(t, f.svc.VideoPath(f.org.ID, recent.ID), f.now)
	age(t, f.svc.TimelinePath(f.org.ID, recent.ID), f.now)

	f.now = start.Add(8 * 24 * time.Hour)
	n, err := f.svc.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	_, err = f.svc.Get(context.Background(), f.org.ID, old.ID)
	assert.ErrorIs(t, err, recordings.ErrNotFound)
	assert.NoFileExists(t, f.svc.VideoPath(f.org.ID, old.ID))
	assert.NoFileExists(t, f.svc.TimelinePath(f.org.ID, old.ID))
	assert.NoFileExists(t, orphan)
	for _, id := range []string{recent.ID, live.ID} {
		_, err := f.svc.Get(context.Background(), f.org.ID, id)
		assert.NoError(t, err, "kept")
	}
	assert.FileExists(t, f.svc.VideoPath(f.org.ID, recent.ID))

	expired := f.audit(t, store.AuditRecordingExpire)
	require.Len(t, expired, 2)
	assert.Equal(t, "recording:"+old.ID, expired[0].Target)
	assert.Equal(t, oldRow.VideoSHA256, expired[0].Details["video_sha256"])
	assert.Equal(t, "7", expired[0].Details["retention_days"])
	assert.Equal(t, "recording:orphan-1", expired[1].Target)

	// Past the recent one's retention too; the one never closed started 5 days in, its
	// cutoff passes with it.
	f.now = start.Add(13 * 24 * time.Hour)
	n, err = f.svc.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	list, err := f.svc.List(context.Background(), f.org.ID, store.RecordingFilter{})
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestRunStopsWithContext(t *testing.T) {
	f := newFixture(t, store.RecordingOn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.svc.Run(ctx, time.Hour)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func age(t *testing.T, path string, at time.Time) {
	t.Helper()
	require.NoError(t, os.Chtimes(path, at, at))
}
