package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
)

const (
	recID     = "r0000000-0000-4000-8000-000000000001"
	recFailed = "r0000000-0000-4000-8000-000000000002"
)

// recordingsRelay is a fake relay with two recordings, one of which verifies; it records the
// queries and exports it was asked for.
type recordingsRelay struct {
	mu      sync.Mutex
	queries []string
	exports int
	video   []byte
}

func newRecordingsRelay(t *testing.T) (*fakeRelay, *recordingsRelay) {
	rr := &recordingsRelay{video: []byte("\x00\x00\x00\x18ftypisom-fake-mp4-bytes")}
	rec := map[string]any{"id": recID, "session_id": "s1", "device_id": "d0000000-0000-4000-8000-000000000001", "device_name": "web1",
		"started_at": tCreated, "ended_at": tCreated, "duration_ms": 61500, "frames": 1845, "bytes": 3 << 20,
		"video_sha256": "aa", "timeline_sha256": "bb", "state": "complete", "capture_keys": false,
		"participants": []map[string]string{{"name": "vera@acme.test", "principal": "user:u1", "grant": "admin"}, {"name": "Guest \x1b[31mBob", "principal": "guest:g1", "grant": "view"}}}
	failed := map[string]any{"id": recFailed, "session_id": "s2", "device_id": "d9", "device_name": "", "started_at": tCreated,
		"duration_ms": 0, "bytes": 0, "state": "failed", "error": "disk full", "participants": []any{}}
	mux := http.NewServeMux()
	authed := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+fakeKey {
				answer(w, 401, map[string]string{"code": "unauthorized", "message": "log in"})
				return
			}
			h(w, r)
		})
	}
	authed("GET /api/v1/devices", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, 200, map[string]any{"devices": []map[string]any{{"id": "d0000000-0000-4000-8000-000000000001", "name": "web1", "labels": map[string]string{}, "created_at": tCreated}}})
	})
	authed("GET /api/v1/recordings", func(w http.ResponseWriter, r *http.Request) {
		rr.mu.Lock()
		rr.queries = append(rr.queries, r.URL.RawQuery)
		rr.mu.Unlock()
		next := 2
		answer(w, 200, map[string]any{"recordings": []any{rec, failed}, "next_offset": next})
	})
	authed("GET /api/v1/recordings/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != recID {
			answer(w, 404, map[string]string{"code": "not-found", "message": "Not found in your organization."})
			return
		}
		answer(w, 200, rec)
	})
	authed("POST /api/v1/recordings/{id}/verify", func(w http.ResponseWriter, r *http.Request) {
		v := map[string]any{"id": r.PathValue("id"), "ok": true, "audit_seq": 42, "audited_video_sha256": "aa", "audited_timeline_sha256": "bb",
			"catalogue_video_sha256": "aa", "catalogue_timeline_sha256": "bb", "video": "ok", "timeline": "ok", "problems": []string{}}
		if r.PathValue("id") != recID {
			v["ok"], v["video"], v["problems"] = false, "tampered", []string{"the video file differs from the SHA-256 the audit chain recorded when the recording closed"}
		}
		answer(w, 200, v)
	})
	authed("GET /api/v1/recordings/{id}/video", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("download") != "1" {
			answer(w, 400, map[string]string{"code": "bad-request", "message": "export asks for download"})
			return
		}
		rr.mu.Lock()
		rr.exports++
		rr.mu.Unlock()
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(rr.video)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fakeRelay{srv: srv}, rr
}

func TestRecordingsList(t *testing.T) {
	f, rr := newRecordingsRelay(t)
	r := withKey(t, f, "recordings", "list", "--device", "web1", "--limit", "2")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^RECORDING\s+STARTED\s+DURATION\s+DEVICE\s+SESSION\s+PARTICIPANTS\s+SIZE\s+STATE$`, r.stdout)
	assert.Regexp(t, `(?m)^`+recID+`\s+2026-04-30T08:00:00Z\s+1m2s\s+web1\s+s1\s+vera@acme.test, Guest \\x1b\[31mBob\s+3.0 MiB\s+complete$`, r.stdout)
	assert.Contains(t, r.stdout, "d9 (deleted)")
	assert.Contains(t, r.stdout, "failed: disk full")
	assert.NotContains(t, r.stdout, "\x1b", "hostile names are escaped")
	assert.Contains(t, r.stderr, "More: kvmctl recordings list --offset 2 --limit 2")
	assert.Equal(t, []string{"device=d0000000-0000-4000-8000-000000000001&limit=2"}, rr.queries, "the device name is resolved to its id")

	r = withKey(t, f, "recordings", "list", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var page client.RecordingPage
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	require.Len(t, page.Recordings, 2)
	assert.Equal(t, "aa", page.Recordings[0].VideoSHA256)

	r = withKey(t, f, "recordings", "list", "--limit", "0")
	assert.Equal(t, client.ExitUsage, r.code)
}

func TestRecordingsGet(t *testing.T) {
	f, _ := newRecordingsRelay(t)
	r := withKey(t, f, "recordings", "get", recID)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^video sha256\s+aa$`, r.stdout)
	assert.Regexp(t, `(?m)^participant\s+vera@acme.test \(user:u1, admin\)$`, r.stdout)
	assert.Regexp(t, `(?m)^keystrokes captured\s+no$`, r.stdout)
	r = withKey(t, f, "recordings", "get", "nope")
	assert.Equal(t, client.ExitNotFound, r.code)
}

func TestRecordingsVerify(t *testing.T) {
	f, _ := newRecordingsRelay(t)
	r := withKey(t, f, "recordings", "verify", recID)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Recording "+recID+" verifies")
	assert.Contains(t, r.stdout, "(seq 42)")

	r = withKey(t, f, "recordings", "verify", recFailed)
	assert.Equal(t, client.ExitChainBroken, r.code, "a recording that does not verify exits 7")
	assert.Contains(t, r.stderr, "the video file differs from the SHA-256 the audit chain recorded")
}

func TestRecordingsExport(t *testing.T) {
	f, rr := newRecordingsRelay(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "out.mp4")
	r := withKey(t, f, "recordings", "export", recID, file)
	require.Equal(t, 0, r.code, r.stderr)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, rr.video, got)
	assert.Contains(t, r.stderr, "kvmctl recordings verify "+recID)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	r = withKey(t, f, "recordings", "export", recID, "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, string(rr.video), r.stdout)
	assert.Equal(t, 2, rr.exports)

	r = withKey(t, f, "recordings", "export", recID)
	assert.Equal(t, client.ExitUsage, r.code)
	assert.True(t, strings.Contains(r.stderr, "FILE"), r.stderr)
}
