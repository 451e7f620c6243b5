package recording

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// playerPage plays the recording named in the query in a plain <video src>, as a browser
// that downloads one would.
const playerPage = `<!doctype html><meta charset="utf-8"><title>recording</title>
<video id="v" muted preload="auto"></video>
<script>document.getElementById("v").src = new URLSearchParams(location.search).get("src");</script>`

// played is what the page's video element says about a recording.
type played struct {
	ReadyState   int     `json:"readyState"`
	Duration     float64 `json:"duration"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	EndWidth     int     `json:"endWidth"`
	EndHeight    int     `json:"endHeight"`
	Error        string  `json:"error"`
	DecodedAfter int     `json:"decoded"`
}

// playInChromium loads a recording in headless Chromium, waits for its first frame
// (readyState ≥ HAVE_CURRENT_DATA), then seeks near its end and waits for that frame.
func playInChromium(t *testing.T, ctx context.Context, videoPath string) played {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/player", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(playerPage))
	})
	mux.Handle("/", http.FileServer(http.Dir(filepath.Dir(videoPath))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	const script = `new Promise((resolve) => {
	const v = document.getElementById("v");
	const fail = () => resolve({error: v.error ? v.error.code + " " + v.error.message : "no error"});
	v.addEventListener("error", fail);
	const ready = () => {
		const first = {readyState: v.readyState, duration: v.duration, width: v.videoWidth, height: v.videoHeight};
		v.addEventListener("seeked", () => {
			const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
			resolve({...first, endWidth: v.videoWidth, endHeight: v.videoHeight, decoded: q.totalVideoFrames || 0});
		}, {once: true});
		v.currentTime = Math.max(v.duration - 0.2, 0);
	};
	if (v.readyState >= 2) ready(); else v.addEventListener("loadeddata", ready, {once: true});
})`
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s/player?src=/%s", srv.URL, filepath.Base(videoPath))
	_, err := chromedp.Run(tctx, chromedp.Navigate(url))
	require.NoError(t, err)
	got, err := chromedp.Run(tctx, chromedp.Evaluate[played](script, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Empty(t, got.Error, "Chromium could not play %s", videoPath)
	t.Logf("Chromium: %+v", got)
	return got
}

// TestRecordingPlaysInChromium: the recordings play in Chromium's <video>, with the right
// duration, and the one whose size changed shows the new size at its end.
func TestRecordingPlaysInChromium(t *testing.T) {
	ctx := testenv.Chromium(t)
	t.Run("one size", func(t *testing.T) {
		frames := testStream(t, segment{width: 640, height: 360, frames: 5 * testFPS, keyEvery: 2 * testFPS})
		s := record(t, newTestRecorder(t, Config{}), frames, nil)
		got := playInChromium(t, ctx, s.Video.Path)
		assert.GreaterOrEqual(t, got.ReadyState, 2)
		span := time.Duration(len(frames)) * time.Second / testFPS
		d := time.Duration(got.Duration * float64(time.Second))
		assert.True(t, within(d, span, 0.05), "video.duration %v, span %v", d, span)
		assert.Equal(t, 640, got.Width)
		assert.Equal(t, 360, got.Height)
		assert.Equal(t, 640, got.EndWidth)
	})
	t.Run("size change", func(t *testing.T) {
		frames := testStream(t,
			segment{width: 640, height: 360, frames: 2 * testFPS},
			segment{width: 800, height: 600, frames: 2 * testFPS},
		)
		s := record(t, newTestRecorder(t, Config{}), frames, nil)
		got := playInChromium(t, ctx, s.Video.Path)
		assert.GreaterOrEqual(t, got.ReadyState, 2)
		span := time.Duration(len(frames)) * time.Second / testFPS
		d := time.Duration(got.Duration * float64(time.Second))
		assert.True(t, within(d, span, 0.05), "video.duration %v, span %v", d, span)
		assert.Equal(t, 640, got.Width, "the first frame is 640×360")
		assert.Equal(t, 360, got.Height)
		assert.Equal(t, 800, got.EndWidth, "the end is 800×600")
		assert.Equal(t, 600, got.EndHeight)
	})
}
