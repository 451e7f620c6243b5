package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings/recordingstest"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// recordedSession turns recording on, starts a console on a new device and records it.
func (e *env) recordedSession(tok, deviceName string, labels map[string]string) (deviceView, store.Recording) {
	e.t.Helper()
	require.Equal(e.t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", tok, map[string]any{"recording": "on"}, nil))
	var d deviceView
	require.Equal(e.t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: deviceName, Labels: labels}, &d))
	var started startedView
	require.Equal(e.t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", tok, nil, &started))
	_, _, r := recordingstest.Record(e.t, e.rec, e.orgOf(tok), started.Session.ID, 30, []recordingstest.Timed{
		{At: 10, Event: recording.Event{Kind: recording.KindJoined, SID: started.Session.ID, Name: "owner", Grant: wire.GrantAdmin}},
	}, []store.Participant{{Name: "owner@acme.example", Principal: "user:x", Grant: "admin"}}, nil)
	return d, r
}

// TestRecordingsRoles: auditors, admins and owners list and read recordings; operators and
// viewers are refused.
func TestRecordingsRoles(t *testing.T) {
	e := newEnv(t)
	_, owner := e.owner("acme")
	d, r := e.recordedSession(owner, "pc-1", nil)
	tests := []struct {
		role store.Role
		want int
	}{
		{store.RoleAuditor, http.StatusOK},
		{store.RoleAdmin, http.StatusOK},
		{store.RoleOperator, http.StatusForbidden},
		{store.RoleViewer, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(string(tc.role), func(t *testing.T) {
			tok := e.member(owner, "acme", string(tc.role)+"@acme.example", tc.role, nil)
			var list recordingList
			assert.Equal(t, tc.want, e.do("GET", "/api/v1/recordings", tok, nil, &list))
			assert.Equal(t, tc.want, e.do("GET", "/api/v1/recordings/"+r.ID, tok, nil, nil))
			assert.Equal(t, tc.want, e.do("GET", "/api/v1/recordings/"+r.ID+"/timeline", tok, nil, nil))
			assert.Equal(t, tc.want, e.do("POST", "/api/v1/recordings/"+r.ID+"/verify", tok, nil, nil))
			status, _, _ := e.video(tok, r.ID, "", "")
			assert.Equal(t, tc.want, status)
			if tc.want == http.StatusOK {
				require.Len(t, list.Recordings, 1)
				got := list.Recordings[0]
				assert.Equal(t, r.ID, got.ID)
				assert.Equal(t, d.Name, got.DeviceName)
				assert.Equal(t, "complete", got.State)
				assert.Equal(t, r.VideoSHA256, got.VideoSHA256)
				assert.Equal(t, []participantView{{Name: "owner@acme.example", Principal: "user:x", Grant: "admin"}}, got.Participants)
				assert.Nil(t, list.NextOffset)
			}
		})
	}
}

// video fetches a recording's video with an optional Range and query.
func (e *env) video(tok, id, rng, query string) (int, http.Header, []byte) {
	e.t.Helper()
	req := httptest.NewRequest("GET", "/api/v1/recordings/"+id+"/video"+query, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := e.app.Test(req, 10_000)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, resp.Header, b
}

// TestRecordingVideo: the whole file, a range of it (seeking), and an export, each audited.
func TestRecordingVideo(t *testing.T) {
	e := newEnv(t)
	org, owner := e.owner("acme")
	_, r := e.recordedSession(owner, "pc-1", nil)
	file, err := os.ReadFile(e.rec.VideoPath(org.ID, r.ID))
	require.NoError(t, err)

	status, h, body := e.video(owner, r.ID, "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "video/mp4", h.Get("Content-Type"))
	assert.Equal(t, file, body)
	assert.Empty(t, h.Get("Content-Disposition"))

	status, h, body = e.video(owner, r.ID, "bytes=100-199", "")
	require.Equal(t, http.StatusPartialContent, status)
	assert.Equal(t, file[100:200], body)
	assert.Equal(t, "bytes 100-199/"+strconv.Itoa(len(file)), h.Get("Content-Range"))

	status, h, body = e.video(owner, r.ID, "", "?download=1")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, file, body)
	assert.Equal(t, `attachment; filename="recording-`+r.ID+`.mp4"`, h.Get("Content-Disposition"))

	views, exports := e.entries(org.ID, store.AuditRecordingView), e.entries(org.ID, store.AuditRecordingExport)
	assert.Len(t, views, 2, "the whole file and the range")
	require.Len(t, exports, 1)
	assert.Equal(t, "recording:"+r.ID, exports[0].Target)
	assert.True(t, strings.HasPrefix(exports[0].Actor, "user:"))

	// The file gone (retention) is a 404, not a 500.
	require.NoError(t, os.Remove(e.rec.VideoPath(org.ID, r.ID)))
	status, _, _ = e.video(owner, r.ID, "", "")
	assert.Equal(t, http.StatusNotFound, status)
}

// TestRecordingTimelineAndVerify: the timeline as a JSON array; verify passes, then names a
// changed file, and is audited.
func TestRecordingTimelineAndVerify(t *testing.T) {
	e := newEnv(t)
	org, owner := e.owner("acme")
	_, r := e.recordedSession(owner, "pc-1", nil)

	var lines []map[string]any
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/recordings/"+r.ID+"/timeline", owner, nil, &lines))
	require.GreaterOrEqual(t, len(lines), 3)
	assert.Equal(t, "start", lines[0]["kind"])
	assert.Equal(t, "end", lines[len(lines)-1]["kind"])
	var kinds []any
	for _, l := range lines {
		kinds = append(kinds, l["kind"])
	}
	assert.Contains(t, kinds, recording.KindJoined)

	views := e.entries(org.ID, store.AuditRecordingView)
	require.Len(t, views, 1, "reading the timeline is audited: it may hold the keys typed")
	assert.Equal(t, "timeline", views[0].Details["part"])

	var v verificationView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/recordings/"+r.ID+"/verify", owner, nil, &v))
	assert.True(t, v.OK, "%v", v.Problems)
	assert.Equal(t, r.VideoSHA256, v.AuditedVideo)
	assert.Empty(t, v.Problems)

	path := e.rec.VideoPath(org.ID, r.ID)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)-10] ^= 0xff
	require.NoError(t, os.WriteFile(path, b, 0o600))
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/recordings/"+r.ID+"/verify", owner, nil, &v))
	assert.False(t, v.OK)
	assert.Equal(t, "tampered", v.Video)
	assert.Equal(t, "ok", v.Timeline)

	verifies := e.entries(org.ID, store.AuditRecordingVerify)
	require.Len(t, verifies, 2)
	assert.Equal(t, "true", verifies[0].Details["ok"])
	assert.Equal(t, "false", verifies[1].Details["ok"])
	assert.Equal(t, "tampered", verifies[1].Details["video"])
}

// TestRecordingsScopeAndTenants: a recording of a device outside the caller's label scope,
// or of another organization, is not found; filters and paging.
func TestRecordingsScopeAndTenants(t *testing.T) {
	e := newEnv(t)
	_, owner := e.owner("acme")
	d1, r1 := e.recordedSession(owner, "pc-fra", map[string]string{"site": "fra"})
	_, r2 := e.recordedSession(owner, "pc-ams", map[string]string{"site": "ams"})
	scoped := e.member(owner, "acme", "aud@acme.example", store.RoleAuditor, map[string]string{"site": "fra"})
	var list recordingList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/recordings", scoped, nil, &list))
	require.Len(t, list.Recordings, 1)
	assert.Equal(t, r1.ID, list.Recordings[0].ID)
	assert.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/recordings/"+r2.ID, scoped, nil, nil))
	status, _, _ := e.video(scoped, r2.ID, "", "")
	assert.Equal(t, http.StatusNotFound, status)

	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/recordings?device="+d1.ID, owner, nil, &list))
	require.Len(t, list.Recordings, 1)
	assert.Equal(t, r1.ID, list.Recordings[0].ID)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/recordings?limit=1", owner, nil, &list))
	require.Len(t, list.Recordings, 1)
	assert.Equal(t, r2.ID, list.Recordings[0].ID, "newest first")
	require.NotNil(t, list.NextOffset)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/recordings?limit=1&offset=1", owner, nil, &list))
	assert.Equal(t, r1.ID, list.Recordings[0].ID)
	assert.Nil(t, list.NextOffset)
	assert.Equal(t, http.StatusBadRequest, e.do("GET", "/api/v1/recordings?device=nope", owner, nil, nil))

	_, other := e.owner("other")
	assert.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/recordings/"+r1.ID, other, nil, nil))
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/recordings", other, nil, &list))
	assert.Empty(t, list.Recordings)
}

// TestRecordingSettingsAPI: the org answers its recording settings; PATCH changes them
// (owner only) and refuses what cannot be.
func TestRecordingSettingsAPI(t *testing.T) {
	e := newEnv(t)
	org, owner := e.owner("acme")
	var o orgView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/org", owner, nil, &o))
	assert.Equal(t, "off", o.Recording)
	assert.False(t, o.RecordingKeys)
	assert.Equal(t, 30, o.RecordingDays)
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", owner,
		map[string]any{"recording": "required", "recording_keys": true, "recording_retention_days": 90}, &o))
	assert.Equal(t, "required", o.Recording)
	assert.True(t, o.RecordingKeys)
	assert.Equal(t, 90, o.RecordingDays)
	for _, bad := range []map[string]any{{"recording": "always"}, {"recording_retention_days": 0}, {"recording_retention_days": 4000}} {
		assert.Equal(t, http.StatusBadRequest, e.do("PATCH", "/api/v1/org/settings", owner, bad, nil), "%v", bad)
	}
	admin := e.member(owner, "acme", "adm@acme.example", store.RoleAdmin, nil)
	assert.Equal(t, http.StatusForbidden, e.do("PATCH", "/api/v1/org/settings", admin, map[string]any{"recording": "off"}, nil))
	changes := e.entries(org.ID, store.AuditSettingsChange)
	require.NotEmpty(t, changes)
	assert.Contains(t, changes[len(changes)-1].Details["keystroke_capture"], "turned on")
}
