package recordings_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/store"
)

func TestBeginFollowsPolicy(t *testing.T) {
	tests := []struct {
		policy   store.RecordingPolicy
		keys     bool
		record   bool
		required bool
	}{
		{policy: store.RecordingOff},
		{policy: store.RecordingOff, keys: true},
		{policy: store.RecordingOn, record: true},
		{policy: store.RecordingRequired, keys: true, record: true, required: true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s keys=%v", tc.policy, tc.keys), func(t *testing.T) {
			f := newFixture(t, tc.policy)
			f.setOrg(t, func(s *store.OrgSettings) { s.RecordingKeys = tc.keys })
			captures, err := f.svc.CapturesKeys(context.Background(), f.org.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.record && tc.keys, captures, "agents asked for keys")
			plan, err := f.svc.Begin(context.Background(), f.org.ID, f.session.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.record, plan.Record)
			assert.Equal(t, tc.required, plan.Required)
			list, err := f.svc.List(context.Background(), f.org.ID, store.RecordingFilter{})
			require.NoError(t, err)
			starts := f.audit(t, store.AuditRecordingStart)
			if !tc.record {
				assert.Empty(t, list)
				assert.Empty(t, starts)
				return
			}
			assert.Equal(t, filepath.Join(f.dir, f.org.ID), plan.Dir)
			assert.Equal(t, tc.keys, plan.CaptureKeys)
			require.Len(t, list, 1)
			r := list[0]
			assert.Equal(t, plan.ID, r.ID)
			assert.Equal(t, store.RecordingActive, r.State)
			assert.Equal(t, f.session.ID, r.SessionID)
			assert.Equal(t, f.device.ID, r.DeviceID)
			assert.Equal(t, f.org.ID+"/"+plan.ID+".mp4", r.Path)
			require.Len(t, starts, 1)
			assert.Equal(t, "recording:"+plan.ID, starts[0].Target)
			assert.Equal(t, "user:ann", starts[0].Actor)
			assert.Equal(t, string(tc.policy), starts[0].Details["policy"])
		})
	}
}

// TestBeginUnwritable: a recordings directory that cannot be made refuses the session under
// required, with a sentence for the console, and lets it go unrecorded under on; both are
// audited and catalogue nothing.
func TestBeginUnwritable(t *testing.T) {
	for _, policy := range []store.RecordingPolicy{store.RecordingRequired, store.RecordingOn} {
		t.Run(string(policy), func(t *testing.T) {
			f := newFixture(t, policy)
			blocker := filepath.Join(f.dir, "not-a-dir")
			require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o600))
			svc, err := recordings.New(recordings.Config{Store: f.st, RecordingsDir: filepath.Join(blocker, "recordings")})
			require.NoError(t, err)
			plan, err := svc.Begin(context.Background(), f.org.ID, f.session.ID)
			assert.False(t, plan.Record)
			if policy == store.RecordingRequired {
				require.ErrorIs(t, err, recordings.ErrRefused)
				var refusal *recordings.Refusal
				require.ErrorAs(t, err, &refusal)
				assert.Contains(t, refusal.Msg, "requires recording")
				assert.Contains(t, refusal.Msg, "the session was not started")
			} else {
				require.NoError(t, err)
			}
			list, err := svc.List(context.Background(), f.org.ID, store.RecordingFilter{})
			require.NoError(t, err)
			assert.Empty(t, list)
			fails := f.audit(t, store.AuditRecordingFail)
			require.Len(t, fails, 1)
			assert.Equal(t, "start", fails[0].Details["stage"])
			assert.Equal(t, f.session.ID, fails[0].Details["session"])
		})
	}
}

func TestBeginUnknownSession(t *testing.T) {
	f := newFixture(t, store.RecordingOn)
	_, err := f.svc.Begin(context.Background(), f.org.ID, store.NewID())
	assert.ErrorIs(t, err, recordings.ErrNotFound)
}

// TestFinishAuditsSHA: a real recording's end goes into the catalogue and the audit chain
// with the SHA-256 of the files as they are on disk.
func TestFinishAuditsSHA(t *testing.T) {
	f := newFixture(t, store.RecordingOn)
	plan, sum, r := f.record(t, 45)
	assert.Equal(t, store.RecordingComplete, r.State)
	assert.Equal(t, sum.Video.SHA256, r.VideoSHA256)
	assert.Equal(t, sum.Timeline.SHA256, r.TimelineSHA256)
	assert.Equal(t, int64(sum.Frames), r.Frames)
	assert.Equal(t, sum.Video.Size+sum.Timeline.Size, r.Bytes)
	assert.Equal(t, sum.Duration.Milliseconds(), r.Duration.Milliseconds())
	assert.Equal(t, []store.Participant{{Name: "ann@example.com", Principal: "user:ann", Grant: "admin"}}, r.Participants)

	ends := f.audit(t, store.AuditRecordingEnd)
	require.Len(t, ends, 1)
	d := ends[0].Details
	assert.Equal(t, fileSHA(t, f.svc.VideoPath(f.org.ID, plan.ID)), d["video_sha256"], "the audited digest is the file's")
	assert.Equal(t, fileSHA(t, f.svc.TimelinePath(f.org.ID, plan.ID)), d["timeline_sha256"])
	assert.Equal(t, f.svc.VideoPath(f.org.ID, plan.ID), sum.Video.Path, "the service's path is the recorder's")
	assert.NotEmpty(t, d["video_bytes"])
	assert.NotEmpty(t, d["duration_ms"])

	_, err := f.svc.Finish(context.Background(), f.org.ID, plan.ID, sum, nil)
	assert.ErrorIs(t, err, store.ErrConflict, "a recording ends once")
}

func TestFail(t *testing.T) {
	f := newFixture(t, store.RecordingRequired)
	plan, err := f.svc.Begin(context.Background(), f.org.ID, f.session.ID)
	require.NoError(t, err)
	r, err := f.svc.Fail(context.Background(), f.org.ID, plan.ID, os.ErrPermission)
	require.NoError(t, err)
	assert.Equal(t, store.RecordingFailed, r.State)
	assert.Contains(t, r.Error, "permission denied")
	fails := f.audit(t, store.AuditRecordingFail)
	require.Len(t, fails, 1)
	assert.Equal(t, "write", fails[0].Details["stage"])
	assert.Contains(t, recordings.FailReason(os.ErrPermission), "requires recording")
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
