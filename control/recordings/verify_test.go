package recordings_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
)

// TestVerify: an untouched recording verifies; a flipped byte in the video, a changed
// catalogue row (even one changed to match a changed file), and a missing timeline are each
// named.
func TestVerify(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(t *testing.T, f *fixture, id string)
		video    string
		timeline string
		problems []string
	}{
		{name: "untouched", video: "ok", timeline: "ok"},
		{
			name:   "flipped byte in the video",
			tamper: func(t *testing.T, f *fixture, id string) { flipByte(t, f.svc.VideoPath(f.org.ID, id)) },
			video:  "tampered", timeline: "ok",
			problems: []string{"the video file differs from the SHA-256 the audit chain recorded when the recording closed"},
		},
		{
			name: "row changed to the changed file's digest",
			tamper: func(t *testing.T, f *fixture, id string) {
				flipByte(t, f.svc.VideoPath(f.org.ID, id))
				f.rawExec(t, `UPDATE recordings SET video_sha256 = ? WHERE id = ?`, fileSHA(t, f.svc.VideoPath(f.org.ID, id)), id)
			},
			video: "tampered", timeline: "ok",
			problems: []string{
				"the video file differs from the SHA-256 the audit chain recorded when the recording closed",
				"the catalogue's video SHA-256 differs from the audit chain's: the catalogue was changed",
			},
		},
		{
			name: "row changed alone",
			tamper: func(t *testing.T, f *fixture, id string) {
				f.rawExec(t, `UPDATE recordings SET timeline_sha256 = 'ab' WHERE id = ?`, id)
			},
			video: "ok", timeline: "ok",
			problems: []string{"the catalogue's timeline SHA-256 differs from the audit chain's: the catalogue was changed"},
		},
		{
			name: "timeline removed",
			tamper: func(t *testing.T, f *fixture, id string) {
				require.NoError(t, os.Remove(f.svc.TimelinePath(f.org.ID, id)))
			},
			video: "ok", timeline: "missing",
			problems: []string{"the timeline file is missing"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, store.RecordingOn)
			plan, _, _ := f.record(t, 30)
			if tc.tamper != nil {
				tc.tamper(t, f, plan.ID)
			}
			v, err := f.svc.Verify(context.Background(), f.org.ID, plan.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.problems == nil, v.OK)
			assert.Equal(t, tc.video, v.Video)
			assert.Equal(t, tc.timeline, v.Timeline)
			assert.Equal(t, tc.problems, v.Problems)
			assert.Positive(t, v.AuditSeq)
		})
	}
}

func TestVerifyWithoutEnd(t *testing.T) {
	f := newFixture(t, store.RecordingOn)
	plan, err := f.svc.Begin(context.Background(), f.org.ID, f.session.ID)
	require.NoError(t, err)
	v, err := f.svc.Verify(context.Background(), f.org.ID, plan.ID)
	require.NoError(t, err)
	assert.False(t, v.OK)
	assert.Equal(t, []string{"the recording is still being written; it can be verified once it ends"}, v.Problems)

	// A row forged complete with no end in the chain does not verify.
	f.rawExec(t, `UPDATE recordings SET state = 'complete' WHERE id = ?`, plan.ID)
	v, err = f.svc.Verify(context.Background(), f.org.ID, plan.ID)
	require.NoError(t, err)
	assert.False(t, v.OK)
	assert.Contains(t, v.Problems[0], "the catalogue was changed")

	_, err = f.svc.Verify(context.Background(), f.org.ID, store.NewID())
	assert.ErrorIs(t, err, recordings.ErrNotFound)
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// rawExec changes the database behind the store's back.
func (f *fixture) rawExec(t *testing.T, q string, args ...any) {
	t.Helper()
	raw, err := sqlite.RawDB(f.dbDir)
	require.NoError(t, err)
	defer raw.Close()
	res, err := raw.Exec(q, args...)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}
