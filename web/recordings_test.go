package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings/recordingstest"
	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// The dashboard's Recordings page and player, against a fake API serving a real recording: an
// H.264 stream of the test pattern written by the recording package, with a timeline of three
// participants and control moving between two of them.

const recordingID = "0f1e2d3c-4b5a-4697-8877-665544332211"

// writeTestRecording records 3 s of video with a timeline: ann joins and holds control, bob
// joins and is given control, carol watches for a while, bob releases it.
func writeTestRecording(t *testing.T) (dir string, sum recording.Summary) {
	t.Helper()
	dir = t.TempDir()
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	rec, err := recording.New(recording.Config{Dir: dir, ID: recordingID, Codec: "video/H264", Now: func() time.Time { return start }})
	require.NoError(t, err)
	at := func(frame int) time.Time { return start.Add(time.Duration(frame) * time.Second / recordingstest.FPS) }
	events := map[int][]recording.Event{
		0:  {{Kind: recording.KindJoined, SID: "s-ann", Name: "ann@acme.example", Grant: wire.GrantAdmin}},
		1:  {{Kind: recording.KindControl, Control: &wire.RosterEvent{Kind: wire.EventGranted, Subject: "s-ann"}}},
		15: {{Kind: recording.KindJoined, SID: "s-bob", Name: "Bob Stone", Grant: wire.GrantControl}},
		30: {{Kind: recording.KindControl, Control: &wire.RosterEvent{Kind: wire.EventGranted, Subject: "s-bob", By: "s-ann"}}},
		40: {{Kind: recording.KindJoined, SID: "s-carol", Name: "Carol Diaz", Grant: wire.GrantView}},
		70: {{Kind: recording.KindLeft, SID: "s-carol", Name: "Carol Diaz"}},
		80: {{Kind: recording.KindControl, Control: &wire.RosterEvent{Kind: wire.EventReleased, Subject: "s-bob"}}},
	}
	frame := -1
	var ts uint32
	for _, p := range recordingstest.H264Packets(t, 90) {
		if frame < 0 || p.Timestamp != ts {
			frame, ts = frame+1, p.Timestamp
			for _, e := range events[frame] {
				require.NoError(t, rec.AddEvent(at(frame), e))
			}
		}
		require.NoError(t, rec.WriteRTP(p))
	}
	sum, err = rec.Close()
	require.NoError(t, err)
	require.Positive(t, sum.Frames)
	return dir, sum
}

// fakeRecordings serves the recordings API for one real recording and records how its video
// was fetched.
type fakeRecordings struct {
	dir string
	sum recording.Summary

	mu     sync.Mutex
	videos []string // "auth query" of each video fetch
}

func (f *fakeRecordings) routes(acct *fakeAccount) map[string]http.Handler {
	row := map[string]any{"id": recordingID, "session_id": "5e551010-aaaa-4bbb-8ccc-000000000001", "device_id": "d1", "device_name": "lab-01",
		"started_at": f.sum.Started.Format(time.RFC3339), "ended_at": f.sum.Ended.Format(time.RFC3339), "duration_ms": f.sum.Duration.Milliseconds(),
		"frames": f.sum.Frames, "bytes": f.sum.Video.Size + f.sum.Timeline.Size, "video_sha256": f.sum.Video.SHA256, "state": "complete",
		"participants": []map[string]string{{"name": "ann@acme.example", "principal": "user:u1", "grant": "admin"},
			{"name": "Bob Stone", "principal": "user:u2", "grant": "control"}, {"name": "Carol Diaz", "principal": "user:u3", "grant": "view"}}}
	failed := map[string]any{"id": "0f1e2d3c-4b5a-4697-8877-000000000002", "session_id": "5e551010-aaaa-4bbb-8ccc-000000000002", "device_id": "d9",
		"device_name": "", "started_at": f.sum.Started.Add(-time.Hour).Format(time.RFC3339), "duration_ms": 0, "bytes": 0, "state": "failed",
		"error": "disk full", "participants": []any{}}
	return map[string]http.Handler{
		"GET /api/v1/recordings": acct.bearer(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"recordings": []any{row, failed}, "next_offset": nil})
		}),
		"GET /api/v1/recordings/{id}/timeline": acct.bearer(func(w http.ResponseWriter, r *http.Request) {
			file, err := os.Open(recording.TimelinePath(f.dir, recordingID))
			if err != nil {
				writeJSON(w, http.StatusNotFound, map[string]string{"code": "not-found", "message": "gone"})
				return
			}
			defer file.Close()
			lines := []json.RawMessage{}
			sc := bufio.NewScanner(file)
			for sc.Scan() {
				lines = append(lines, json.RawMessage(strings.Clone(sc.Text())))
			}
			writeJSON(w, http.StatusOK, lines)
		}),
		"GET /api/v1/recordings/{id}/video": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.videos = append(f.videos, r.Header.Get("Authorization")+" "+r.URL.RawQuery)
			f.mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer access-1" {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "Sign in first."})
				return
			}
			if r.URL.Query().Get("download") == "1" {
				w.Header().Set("Content-Disposition", `attachment; filename="recording-`+recordingID+`.mp4"`)
			}
			w.Header().Set("Content-Type", "video/mp4")
			http.ServeFile(w, r, recording.VideoPath(f.dir, recordingID))
		}),
	}
}

func (f *fakeRecordings) fetches() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.videos...)
}

// TestDashboardRecordings: an auditor lists the recordings, plays one (the real MP4 decodes),
// sees a bar per participant with control where it was, seeks by clicking a bar, and exports.
// The video is fetched with the bearer in a header, never in its URL.
func TestDashboardRecordings(t *testing.T) {
	dir, sum := writeTestRecording(t)
	acct := &fakeAccount{role: "auditor"}
	fr := &fakeRecordings{dir: dir, sum: sum}
	routes := acct.routes()
	for k, v := range fr.routes(acct) {
		routes[k] = v
	}
	url := serveDashboard(t, routes)
	ctx, log := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 860))
	navigateUntil(t, ctx, url+"/", `!document.getElementById("view-signin").hidden`)
	signInAsAnn(t, ctx)
	waitJS(t, ctx, `!document.getElementById("nav-recordings").hidden`, 10*time.Second)
	click(t, ctx, "nav-recordings")
	waitJS(t, ctx, `document.querySelectorAll("#recording-rows tr").length === 2`, 10*time.Second)

	rows := eval[[][]string](t, ctx, `[...document.querySelectorAll("#recording-rows tr")].map((tr) => [...tr.cells].map((c) => c.textContent))`)
	require.Len(t, rows, 2)
	assert.Equal(t, "lab-01", rows[0][1])
	assert.Equal(t, "ann@acme.example, Bob Stone, Carol Diaz", rows[0][2])
	assert.Equal(t, fmt.Sprintf("0:%02d", int(sum.Duration.Seconds())), rows[0][4], "the media duration, to the second")
	assert.InDelta(t, 3.0, sum.Duration.Seconds(), 0.1)
	assert.Equal(t, "complete", rows[0][6])
	assert.Equal(t, "d9 (deleted)", rows[1][1])
	assert.Equal(t, "failed: disk full", rows[1][6])
	assert.True(t, eval[bool](t, ctx, `document.querySelectorAll("#recording-rows tr")[1].querySelector("button").disabled`), "a failed recording has nothing to play")
	recordingsShot(t, ctx, "list")

	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector("#recording-rows tr:first-child button").click()`))
	waitJS(t, ctx, `document.getElementById("player-video").readyState >= 2`, 20*time.Second)
	waitJS(t, ctx, `document.querySelectorAll("#player-tracks .track-row").length === 3`, 5*time.Second)
	video := eval[map[string]float64](t, ctx, `(() => { const v = document.getElementById("player-video");
		return {w: v.videoWidth, h: v.videoHeight, d: v.duration, ready: v.readyState}; })()`)
	assert.Equal(t, float64(recordingstest.Width), video["w"])
	assert.Equal(t, float64(recordingstest.Height), video["h"])
	assert.InDelta(t, 3.0, video["d"], 0.2)

	tracks := eval[[]map[string]any](t, ctx, `[...document.querySelectorAll("#player-tracks .track-row")].map((r) => ({
		name: r.querySelector(".track-name").textContent,
		control: [...r.querySelectorAll(".bar-control")].map((b) => [parseFloat(b.style.left), parseFloat(b.style.width)]),
		present: r.querySelectorAll(".bar-present").length,
	}))`)
	require.Len(t, tracks, 3)
	assert.Equal(t, "ann@acme.example (admin)", tracks[0]["name"])
	assert.Equal(t, "Bob Stone (control)", tracks[1]["name"])
	assert.Equal(t, "Carol Diaz (view)", tracks[2]["name"])
	// ann held control from frame 1 to 30 (1 % to 33 % of 3 s), bob from 30 to 80.
	annControl := tracks[0]["control"].([]any)
	require.Len(t, annControl, 1)
	assert.InDelta(t, 1.1, annControl[0].([]any)[0], 1.5)
	assert.InDelta(t, 32.2, annControl[0].([]any)[1], 2)
	bobControl := tracks[1]["control"].([]any)
	require.Len(t, bobControl, 1)
	assert.InDelta(t, 33.3, bobControl[0].([]any)[0], 2)
	assert.InDelta(t, 55.6, bobControl[0].([]any)[1], 2)
	assert.Empty(t, tracks[2]["control"], "carol only watched")
	assert.EqualValues(t, 1, tracks[2]["present"])

	// Clicking three quarters along a bar plays from there.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const track = document.querySelectorAll("#player-tracks .track")[1];
		const box = track.getBoundingClientRect();
		track.dispatchEvent(new MouseEvent("click", {bubbles: true, clientX: box.left + box.width * 0.75, clientY: box.top + 5}));
	})()`))
	waitJS(t, ctx, `Math.abs(document.getElementById("player-video").currentTime - 2.25) < 0.3`, 5*time.Second)
	waitJS(t, ctx, `Math.abs(parseFloat(document.querySelector(".playhead").style.left) - 75) < 10`, 5*time.Second)
	recordingsShot(t, ctx, "player")

	click(t, ctx, "player-export")
	waitJS(t, ctx, `!document.getElementById("player-export").disabled`, 10*time.Second)
	fetches := fr.fetches()
	require.Len(t, fetches, 2)
	assert.Equal(t, "Bearer access-1 ", fetches[0], "played with the token in a header, none in the URL")
	assert.Equal(t, "Bearer access-1 download=1", fetches[1], "exported")
	assert.Equal(t, "", eval[string](t, ctx, `document.getElementById("player-status").textContent`))

	click(t, ctx, "player-back")
	waitJS(t, ctx, `!document.getElementById("view-recordings").hidden && !document.getElementById("player-video").getAttribute("src")`, 5*time.Second)
	checkClean(t, ctx, log)
}

// TestDashboardRecordingsHiddenFromOperators: roles that may not read recordings see no
// Recordings page.
func TestDashboardRecordingsHiddenFromOperators(t *testing.T) {
	for _, role := range []string{"operator", "viewer"} {
		t.Run(role, func(t *testing.T) {
			acct := &fakeAccount{role: role}
			url := serveDashboard(t, acct.routes())
			ctx, log := openBrowser(t)
			navigateUntil(t, ctx, url+"/", `!document.getElementById("view-signin").hidden`)
			signInAsAnn(t, ctx)
			waitJS(t, ctx, `!document.getElementById("view-devices").hidden`, 10*time.Second)
			assert.True(t, eval[bool](t, ctx, `document.getElementById("nav-recordings").hidden`))
			assert.Empty(t, acct.callsTo("GET", "/api/v1/recordings"))
			checkClean(t, ctx, log)
		})
	}
}

// recordingsShot saves a screenshot in $KVMRELAY_SHOTS when it is set.
func recordingsShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("KVMRELAY_SHOTS")
	if dir == "" {
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	time.Sleep(300 * time.Millisecond)
	screenshot(t, ctx, filepath.Join(dir, "web-recordings-"+name+".png"))
}

// TestDashboardRecordingSettings: the owner's organization card sets the recording policy,
// full keystroke capture and retention, one PATCH each; a retention out of range is refused
// in the page.
func TestDashboardRecordingSettings(t *testing.T) {
	acct := &fakeAccount{role: "owner"}
	var mu sync.Mutex
	org := map[string]any{"id": "o_1", "name": "Acme", "slug": "acme", "require_mfa": false, "guest_links": false, "idle_timeout_s": 900,
		"max_session_s": 28800, "recording": "off", "recording_keys": false, "recording_retention_days": 30}
	routes := acct.routes()
	routes["GET /api/v1/org"] = acct.bearer(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, http.StatusOK, org)
	})
	routes["PATCH /api/v1/org/settings"] = acct.bearer(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls := acct.callsTo("PATCH", "/api/v1/org/settings")
		for k, v := range calls[len(calls)-1].Body {
			org[k] = v
		}
		writeJSON(w, http.StatusOK, org)
	})
	url := serveDashboard(t, routes)
	ctx, log := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 1100))
	navigateUntil(t, ctx, url+"/", `document.body.dataset.view === "signin"`)
	signInAsAnn(t, ctx)
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 10*time.Second)
	eval[chromedp.Void](t, ctx, `document.getElementById("nav-account").click()`)
	waitJS(t, ctx, `!document.getElementById("org-card").hidden && !document.getElementById("org-recording").disabled`, 10*time.Second)
	assert.Equal(t, "off", eval[string](t, ctx, `document.getElementById("org-recording").value`))
	assert.Equal(t, "30", eval[string](t, ctx, `document.getElementById("org-recording-retention").value`))
	assert.False(t, eval[bool](t, ctx, `document.getElementById("org-recording-keys").checked`))

	change := func(id, value string) {
		t.Helper()
		eval[chromedp.Void](t, ctx, `(() => { const i = document.getElementById(`+strconvQuote(id)+`); i.value = `+strconvQuote(value)+`;
			i.dispatchEvent(new Event("change", {bubbles: true})); })()`)
	}
	change("org-recording", "required")
	waitJS(t, ctx, `document.getElementById("notice").textContent.startsWith("Console sessions now require a recording")`, 5*time.Second)
	click(t, ctx, "org-recording-keys")
	waitJS(t, ctx, `document.getElementById("notice").textContent.startsWith("Full keystroke capture is on")`, 5*time.Second)
	change("org-recording-retention", "90")
	waitJS(t, ctx, `document.getElementById("notice").textContent.startsWith("Recordings are now kept for 90 days")`, 5*time.Second)
	change("org-recording-retention", "0")
	waitJS(t, ctx, `!document.getElementById("org-error").hidden`, 5*time.Second)
	assert.Equal(t, "Recordings are kept from 1 to 3650 days.", text(t, ctx, "org-error"))
	assert.Equal(t, "90", eval[string](t, ctx, `document.getElementById("org-recording-retention").value`), "back as the relay has it")

	patches := acct.callsTo("PATCH", "/api/v1/org/settings")
	require.Len(t, patches, 3, "the refused retention was never sent")
	assert.Equal(t, map[string]any{"recording": "required"}, patches[0].Body)
	assert.Equal(t, map[string]any{"recording_keys": true}, patches[1].Body)
	assert.Equal(t, map[string]any{"recording_retention_days": float64(90)}, patches[2].Body)
	recordingsShot(t, ctx, "org-settings")
	checkClean(t, ctx, log)
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
