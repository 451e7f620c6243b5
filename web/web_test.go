package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// consoleCSP is the Content-Security-Policy the relay serves the console with.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// serveConsole serves Assets under /console/ as the relay does, plus extra routes (the fake
// relay's API in the end-to-end test).
func serveConsole(t *testing.T, extra map[string]http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	files := http.StripPrefix("/console/", http.FileServerFS(Assets()))
	mux.Handle("/console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", consoleCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	// Browsers ask for /favicon.ico whatever the page says; a 404 would show as a console error.
	mux.Handle("/favicon.ico", http.RedirectHandler("/console/img/icon.svg", http.StatusFound))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// pageLog collects what would show up red in the DevTools console: uncaught exceptions,
// console.error calls, browser log errors (CSP violations, failed loads).
type pageLog struct {
	mu       sync.Mutex
	problems []string
}

func (l *pageLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// drop forgets the problems that contain text and reports whether there were any.
func (l *pageLog) drop(text string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.problems[:0]
	for _, p := range l.problems {
		if !strings.Contains(p, text) {
			kept = append(kept, p)
		}
	}
	dropped := len(kept) != len(l.problems)
	l.problems = kept
	return dropped
}

func (l *pageLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...)
}

type pageLogKey struct{}

// cspProbe runs in every new document before the page's own scripts (DevTools-injected scripts
// are exempt from the CSP) and records each violation the page causes.
const cspProbe = `document.addEventListener("securitypolicyviolation", (e) => {
	(window.__cspViolations ||= []).push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});`

// openBrowser starts Chromium with a collector of page problems and the CSP probe installed.
func openBrowser(t *testing.T) (context.Context, *pageLog) {
	t.Helper()
	ctx := testenv.Chromium(t)
	log := &pageLog{}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text = d.Exception.Description
			}
			log.add("exception: %s (%s:%d)", text, d.URL, d.LineNumber+1)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					if a.Description != "" {
						parts = append(parts, a.Description)
					} else {
						parts = append(parts, string(a.Value))
					}
				}
				log.add("console.error: %s", strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				log.add("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range log.list() {
				t.Logf("page said: %s", p)
			}
		}
	})
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	return context.WithValue(ctx, pageLogKey{}, log), log
}

// checkClean fails the test for every exception, error or CSP violation the page produced.
func checkClean(t *testing.T, ctx context.Context, log *pageLog) {
	t.Helper()
	violations := eval[[]string](t, ctx, `window.__cspViolations ?? []`)
	for _, v := range violations {
		t.Errorf("CSP violation: %s", v)
	}
	for _, p := range log.list() {
		t.Errorf("page problem: %s", p)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy.
func waitJS(t *testing.T, ctx context.Context, js string, timeout time.Duration) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(c, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		state, _ := chromedp.Run(c, chromedp.Evaluate[string](`location.href + " readyState=" + document.readyState + " kvm=" + (window.kvm ? window.kvm.state : typeof window.kvm)`))
		t.Fatalf("waiting for %s: %v (page: %s)", js, err, state)
	}
}

// do runs actions with a timeout.
func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatal(err)
	}
}

// navigate opens url and waits for the console's modules to have run.
func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	navigateUntil(t, ctx, url, `window.kvm !== undefined`)
}

// navigateUntil opens url and waits until the page is loaded and the expression ready is true.
func navigateUntil(t *testing.T, ctx context.Context, url, ready string) {
	t.Helper()
	log := ctx.Value(pageLogKey{}).(*pageLog)
	for try := 1; ; try++ {
		do(t, ctx, chromedp.Navigate(url))
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := chromedp.Run(c, chromedp.Poll[chromedp.Void](`document.readyState === "complete" && `+ready,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
		cancel()
		if err == nil {
			return
		}
		// scripts/netns-exec brings the test interface up just before Chromium starts, and
		// Chromium answers the late carrier change by failing the requests in flight with
		// ERR_NETWORK_CHANGED. That is the test network settling, not the page: load again.
		if try == 3 || !log.drop("ERR_NETWORK_CHANGED") {
			t.Fatalf("%s did not get ready (%s): %v", url, ready, err)
		}
		t.Logf("network changed under the first load; loading again")
	}
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestAssetsAreCSPClean checks the files themselves: no inline script, no style attributes, no
// event-handler attributes, every file a page refers to exists, and no module builds markup
// from strings.
func TestAssetsAreCSPClean(t *testing.T) {
	assets := Assets()
	for _, name := range []string{"index.html", "dashboard.html"} {
		t.Run(name, func(t *testing.T) {
			page, err := fs.ReadFile(assets, name)
			if err != nil {
				t.Fatal(err)
			}
			html := string(page)
			for _, m := range regexp.MustCompile(`<script\b([^>]*)>([\s\S]*?)</script>`).FindAllStringSubmatch(html, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("inline script %q is blocked by script-src 'self'", m[0])
				}
			}
			for _, bad := range []*regexp.Regexp{
				regexp.MustCompile(`\sstyle\s*=`),                            // blocked by style-src 'self'
				regexp.MustCompile(`<style[\s>]`),                            // likewise
				regexp.MustCompile(`\son[a-z]+\s*=`),                         // inline event handlers
				regexp.MustCompile(`(?i)(?:src|href)\s*=\s*"(?:[a-z]+:)?//`), // anything off-origin
			} {
				if m := bad.FindString(html); m != "" {
					t.Errorf("%q breaks the pages' CSP", m)
				}
			}
			for _, m := range regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(html, -1) {
				// The dashboard is served at the root and names its files by absolute path,
				// under /console/ where the relay serves Assets.
				ref := m[1]
				if rest, ok := strings.CutPrefix(ref, "/console/"); ok {
					ref = rest
				} else if strings.HasPrefix(ref, "/") {
					t.Errorf("refers to %s, outside /console/ where the relay serves the files", ref)
					continue
				}
				if _, err := fs.Stat(assets, ref); err != nil {
					t.Errorf("refers to %s: %v", m[1], err)
				}
			}
		})
	}
	// Every module a script imports must exist.
	importRe := regexp.MustCompile(`(?m)^\s*import\s[^"]*"(\.\.?/[^"]+)"`)
	err := fs.WalkDir(assets, "js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		for _, m := range importRe.FindAllStringSubmatch(string(src), -1) {
			if _, err := fs.Stat(assets, path.Join(path.Dir(p), m[1])); err != nil {
				t.Errorf("%s imports %s: %v", p, m[1], err)
			}
		}
		for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "document.write", "createContextualFragment", "DOMParser"} {
			if strings.Contains(string(src), banned) {
				t.Errorf("%s uses %s: agent-supplied text must only ever reach textContent", p, banned)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConsoleWithoutLink opens /console/ with no code: the page loads cleanly under the CSP and
// tells the person how to get a console link.
func TestConsoleWithoutLink(t *testing.T) {
	srv := serveConsole(t, nil)
	ctx, log := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 720))
	navigate(t, ctx, srv.URL+"/console/")
	waitJS(t, ctx, `window.kvm.state === "needs-link"`, 10*time.Second)

	help := eval[string](t, ctx, `(() => {
		const el = document.getElementById("needs-link");
		return el.checkVisibility() ? document.getElementById("overlay").innerText : "";
	})()`)
	for _, want := range []string{"console link", "kvmctl console start", "#code="} {
		if !strings.Contains(help, want) {
			t.Errorf("the no-link message does not mention %q:\n%s", want, help)
		}
	}
	if got := eval[any](t, ctx, `window.kvm.lastError`); got != nil {
		t.Errorf("lastError = %v, want null", got)
	}
	// The toolbar is shown (not live), but the controls that need a connection are disabled.
	if n := eval[int](t, ctx, `[...document.querySelectorAll("[data-live]")].filter((b) => !b.disabled).length`); n != 0 {
		t.Errorf("%d connection-only controls are enabled without a connection", n)
	}
	// Accessible names on every button.
	if unnamed := eval[[]string](t, ctx, `[...document.querySelectorAll("button")]
		.filter((b) => !(b.getAttribute("aria-label") || b.textContent.trim())).map((b) => b.id || b.outerHTML.slice(0, 60))`); len(unnamed) > 0 {
		t.Errorf("buttons without an accessible name: %v", unnamed)
	}
	screenshot(t, ctx, "/tmp/web-console.png")
	checkClean(t, ctx, log)
}

// TestConsoleBadLink: a code the relay refuses leaves a clear message, and the code is gone
// from the address bar.
func TestConsoleBadLink(t *testing.T) {
	srv := serveConsole(t, map[string]http.Handler{
		"/api/v1/console/redeem": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"invalid code"}`, http.StatusUnauthorized)
		}),
	})
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/#code=used-up&relay=1")
	waitJS(t, ctx, `window.kvm.state === "failed"`, 10*time.Second)
	if hash := eval[string](t, ctx, `location.hash`); hash != "#relay=1" {
		t.Errorf("location.hash = %q after redeeming, want the code removed and relay=1 kept", hash)
	}
	msg := eval[string](t, ctx, `window.kvm.lastError?.message ?? ""`)
	if !strings.Contains(msg, "already used") {
		t.Errorf("lastError.message = %q, want it to explain that links work once", msg)
	}
	if eval[bool](t, ctx, `document.getElementById("overlay-retry").checkVisibility()`) {
		t.Error("Retry is offered for a used-up link; retrying cannot help")
	}
	// The 401 of the redeem call is logged by the browser as a failed resource; that one is expected.
	log.drop("401")
	checkClean(t, ctx, log)
}

// TestConsoleRedeemRetry: a link refused for a passing reason (rate limit) shows the relay's
// message and can be retried; the retry then reaches the relay again.
func TestConsoleRedeemRetry(t *testing.T) {
	var calls atomic.Int32
	srv := serveConsole(t, map[string]http.Handler{
		"/api/v1/console/redeem": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if calls.Add(1) == 1 {
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"code":"rate-limited","message":"Too many console links redeemed from this address; wait a minute and try again."}`))
				return
			}
			w.WriteHeader(http.StatusGone)
			w.Write([]byte(`{"code":"Gone","message":"used"}`))
		}),
	})
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/#code=busy")
	waitJS(t, ctx, `window.kvm.state === "failed" && document.getElementById("overlay-retry").checkVisibility()`, 10*time.Second)
	if msg := eval[string](t, ctx, `window.kvm.lastError.message`); !strings.Contains(msg, "wait a minute") {
		t.Errorf("lastError.message = %q, want the relay's message", msg)
	}
	eval[chromedp.Void](t, ctx, `document.getElementById("overlay-retry").click()`)
	waitJS(t, ctx, `window.kvm.lastError.message.includes("already used")`, 10*time.Second)
	if calls.Load() != 2 {
		t.Errorf("redeem called %d times, want 2", calls.Load())
	}
	log.drop("429")
	log.drop("410")
	checkClean(t, ctx, log)
}

// TestKeymapMatchesGo checks that the console's key table equals the Go one (hid.CodeToUsage,
// exported to hid/testdata/codes.json).
func TestKeymapMatchesGo(t *testing.T) {
	srv := serveConsole(t, nil)
	ctx, _ := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/")
	js := eval[map[string]int](t, ctx, `import("./js/keymap.js").then((m) => m.KEYMAP)`)

	// The brief's floor: the full US 104-key layout plus the ISO and JIS keys.
	for code, usage := range map[string]int{
		"KeyA": 0x04, "KeyZ": 0x1d, "Digit1": 0x1e, "Digit0": 0x27, "Enter": 0x28, "Escape": 0x29,
		"Backspace": 0x2a, "Tab": 0x2b, "Space": 0x2c, "Backquote": 0x35, "CapsLock": 0x39,
		"F1": 0x3a, "F12": 0x45, "PrintScreen": 0x46, "ScrollLock": 0x47, "Pause": 0x48,
		"Insert": 0x49, "Delete": 0x4c, "ArrowUp": 0x52, "NumLock": 0x53, "NumpadEnter": 0x58,
		"Numpad0": 0x62, "NumpadDecimal": 0x63, "ContextMenu": 0x65, "IntlBackslash": 0x64,
		"IntlRo": 0x87, "IntlYen": 0x89, "ControlLeft": 0xe0, "ShiftLeft": 0xe1, "AltLeft": 0xe2,
		"MetaLeft": 0xe3, "ControlRight": 0xe4, "ShiftRight": 0xe5, "AltRight": 0xe6, "MetaRight": 0xe7,
	} {
		if js[code] != usage {
			t.Errorf("KEYMAP.%s = %#x, want %#x", code, js[code], usage)
		}
	}
	if n := eval[int](t, ctx, `window.kvm.usageFor("KeyQ")`); n != 0x14 {
		t.Errorf("kvm.usageFor(KeyQ) = %#x, want 0x14", n)
	}
	if v := eval[any](t, ctx, `window.kvm.usageFor("toString")`); v != nil {
		t.Errorf("kvm.usageFor(toString) = %v, want null (no prototype lookups)", v)
	}

	goTable, err := loadGoCodes(filepath.Join("..", "hid", "testdata", "codes.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("hid/testdata/codes.json does not exist yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	for code, usage := range goTable {
		got, ok := js[code]
		switch {
		case !ok:
			t.Errorf("the Go table maps %s to %#x; the console's KEYMAP lacks it", code, usage)
		case got != usage:
			t.Errorf("%s: console sends %#x, Go table says %#x", code, got, usage)
		}
	}
	for code, usage := range js {
		if _, ok := goTable[code]; !ok {
			t.Errorf("the console maps %s to %#x; the Go table lacks it", code, usage)
		}
	}
}

// loadGoCodes reads the agent's code table. It accepts the shapes a Go table is likely to be
// written in: {"KeyA": 4} or {"KeyA": "0x04"}, or a list of {"code": "KeyA", "usage": 4}.
func loadGoCodes(path string) (map[string]int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err == nil {
		for code, v := range obj {
			n, err := usageValue(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, code, err)
			}
			out[code] = n
		}
		return out, nil
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s: neither an object nor a list: %w", path, err)
	}
	for i, e := range list {
		var code string
		if err := json.Unmarshal(e["code"], &code); err != nil {
			return nil, fmt.Errorf("%s: entry %d: code: %w", path, i, err)
		}
		n, err := usageValue(e["usage"])
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d (%s): usage: %w", path, i, code, err)
		}
		out[code] = n
	}
	return out, nil
}

func usageValue(v json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(v, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, fmt.Errorf("usage %s is neither a number nor a string", v)
	}
	u, err := strconv.ParseUint(s, 0, 16)
	return int(u), err
}

// syntheticVideo makes the console's <video> play a canvas of the given size, drawn by draw
// (a JS function body receiving ctx, w, h, and the frame number) at 30 fps.
func syntheticVideo(t *testing.T, ctx context.Context, w, h int, draw string) {
	t.Helper()
	eval[chromedp.Void](t, ctx, fmt.Sprintf(`(async () => {
		clearInterval(window.__synthTimer);
		const c = document.createElement("canvas");
		c.width = %d; c.height = %d;
		const g = c.getContext("2d");
		const draw = (ctx, w, h, n) => { %s };
		let n = 0;
		draw(g, c.width, c.height, n);
		window.__synthTimer = setInterval(() => draw(g, c.width, c.height, ++n), 33);
		const v = document.getElementById("screen");
		v.srcObject = c.captureStream(30);
		await v.play();
		while (v.videoWidth !== c.width || v.videoHeight !== c.height) await new Promise((r) => setTimeout(r, 20));
	})()`, w, h, draw))
}

// TestMapPointerLetterbox checks the pointer mapping through the content rectangle for videos
// wider and taller than the window.
func TestMapPointerLetterbox(t *testing.T) {
	srv := serveConsole(t, nil)
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/")

	type pt struct{ X, Y float64 }
	for _, tc := range []struct{ winW, winH, vidW, vidH int }{
		{1280, 720, 1920, 1080},  // same aspect: no bars
		{1280, 720, 1024, 768},   // 4:3 in 16:9: bars left and right
		{1000, 1000, 1920, 1080}, // bars top and bottom
		{800, 1200, 640, 480},    // upscaled, bars top and bottom
		{1366, 768, 720, 400},    // odd sizes
	} {
		t.Run(fmt.Sprintf("window %dx%d video %dx%d", tc.winW, tc.winH, tc.vidW, tc.vidH), func(t *testing.T) {
			do(t, ctx, chromedp.EmulateViewport(int64(tc.winW), int64(tc.winH)))
			syntheticVideo(t, ctx, tc.vidW, tc.vidH, `ctx.fillStyle = "#234"; ctx.fillRect(0, 0, w, h);`)
			box := eval[map[string]float64](t, ctx, `(() => { const r = document.getElementById("screen").getBoundingClientRect(); return {w: r.width, h: r.height, x: r.left, y: r.top}; })()`)
			if box["w"] != float64(tc.winW) || box["h"] != float64(tc.winH) {
				t.Fatalf("video element is %vx%v, want it to fill the %dx%d window", box["w"], box["h"], tc.winW, tc.winH)
			}
			scale := math.Min(box["w"]/float64(tc.vidW), box["h"]/float64(tc.vidH))
			cw, ch := float64(tc.vidW)*scale, float64(tc.vidH)*scale
			left, top := box["x"]+(box["w"]-cw)/2, box["y"]+(box["h"]-ch)/2

			inside := map[pt]pt{
				{left, top}:                  {0, 0},
				{left + cw, top + ch}:        {32767, 32767},
				{left + cw/2, top + ch/2}:    {16384, 16384},
				{left + cw/4, top + 3*ch/4}:  {8192, 24575},
				{left + cw - 0.5, top + 0.5}: {32767 * (cw - 0.5) / cw, 32767 * 0.5 / ch},
			}
			for client, want := range inside {
				got := eval[*pt](t, ctx, fmt.Sprintf(`window.kvm.mapPointer(%v, %v)`, client.X, client.Y))
				if got == nil {
					t.Errorf("mapPointer(%.1f, %.1f) = null, want %v", client.X, client.Y, want)
					continue
				}
				if math.Abs(got.X-want.X) > 1 || math.Abs(got.Y-want.Y) > 1 {
					t.Errorf("mapPointer(%.1f, %.1f) = %v, want %v", client.X, client.Y, *got, want)
				}
			}
			outside := []pt{{left - 1, top + ch/2}, {left + cw + 1, top + ch/2}, {left + cw/2, top - 1}, {left + cw/2, top + ch + 1}}
			for _, client := range outside {
				// In a letterbox bar, or off the window when there is none.
				if got := eval[*pt](t, ctx, fmt.Sprintf(`window.kvm.mapPointer(%v, %v)`, client.X, client.Y)); got != nil {
					t.Errorf("mapPointer(%.1f, %.1f) = %v outside the picture, want null", client.X, client.Y, *got)
				}
			}
		})
	}
	checkClean(t, ctx, log)
}

// TestStripDecoding plays a synthetic frame with a latency strip and reads the count back.
func TestStripDecoding(t *testing.T) {
	srv := serveConsole(t, nil)
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/")
	if got := eval[any](t, ctx, `window.kvm.stripCount`); got != nil {
		t.Errorf("stripCount = %v before any video, want null", got)
	}
	for _, count := range []int{0, 1, 0xa5c3, 0xffff, 4242} {
		syntheticVideo(t, ctx, 1280, 720, fmt.Sprintf(`
			ctx.fillStyle = "#3a6"; ctx.fillRect(0, 0, w, h); // busy background, not black
			for (let i = 0; i < 16; i++) {
				ctx.fillStyle = (%d >> i) & 1 ? "#fff" : "#000";
				ctx.fillRect(i * 32, 0, 32, 32);
			}`, count))
		waitJS(t, ctx, fmt.Sprintf(`window.kvm.stripCount === %d`, count), 5*time.Second)
	}
	// A frame too small to hold a strip reads as null.
	syntheticVideo(t, ctx, 320, 240, `ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);`)
	waitJS(t, ctx, `window.kvm.stripCount === null`, 5*time.Second)
	checkClean(t, ctx, log)
}

// TestHidEncoding checks the binary messages against docs/protocol.md §2, byte for byte.
func TestHidEncoding(t *testing.T) {
	srv := serveConsole(t, nil)
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/")
	got := eval[map[string]string](t, ctx, `import("./js/hidproto.js").then((p) => {
		const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join(" ");
		const text = p.textMessages("é".repeat(9000));
		return {
			keyDown: hex(p.key(0xe0, true)),
			keyUp: hex(p.key(0x04, false)),
			buttons: hex(p.buttons(0b10101, 32767, 1)),
			buttonsRel: hex(p.buttons(1)),
			wheel: hex(p.wheel(-1, 200)),
			keepalive: hex(p.keepalive()),
			releaseAll: hex(p.releaseAll()),
			text: hex(p.textMessages("hé")[0]),
			textSplit: text.map((m) => m.byteLength).join(","),
			abs: hex(p.pointerAbs(0x1fffe, 3, 16384, 0)),
			rel: hex(p.pointerRel(2, -1, 40000)),
		};
	})`)
	want := map[string]string{
		"keyDown":    "01 01 00 e0",
		"keyUp":      "01 00 00 04",
		"buttons":    "02 15 7f ff 00 01",
		"buttonsRel": "02 01 ff ff ff ff",
		"wheel":      "03 ff 7f",
		"keepalive":  "04",
		"releaseAll": "05",
		"text":       "06 68 c3 a9",
		"textSplit":  "16383,1619", // 9000 two-byte characters: 8191 fit in the first message
		"abs":        "10 ff fe 03 40 00 00 00",
		"rel":        "11 02 ff ff 7f ff",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	checkClean(t, ctx, log)
}

// TestLatencyMeter drives the meter with key-downs and strip counts.
func TestLatencyMeter(t *testing.T) {
	srv := serveConsole(t, nil)
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/")
	got := eval[map[string]any](t, ctx, `import("./js/latency.js").then(({ LatencyMeter, percentile }) => {
		const m = new LatencyMeter();
		const out = {};
		m.frame(7, 0);              // base count
		m.keyDown(100); m.frame(7, 110); m.frame(8, 130); // 30 ms
		out.afterOne = m.hasStrip;
		m.keyDown(200); m.keyDown(205); m.frame(10, 250); // both at once: 50 and 45 ms
		out.afterThree = m.hasStrip;
		out.samples = m.samples;
		m.frame(11, 300);           // moved without a key: not a strip after all
		out.afterSurprise = m.hasStrip;
		m.keyDown(400); m.frame(11, 2500); // never shown: a miss
		out.afterMiss = m.hasStrip;
		out.p50 = percentile([5, 1, 4, 2, 3], 50);
		out.p95 = percentile([...Array(100).keys()].map((i) => i + 1), 95);
		return out;
	})`)
	if got["afterOne"] != false || got["afterThree"] != true || got["afterSurprise"] != false || got["afterMiss"] != false {
		t.Errorf("strip detection: %v", got)
	}
	if fmt.Sprint(got["samples"]) != "[30 50 45]" {
		t.Errorf("samples = %v, want [30 50 45]", got["samples"])
	}
	if got["p50"] != 3.0 || got["p95"] != 95.0 {
		t.Errorf("percentiles: p50 %v (want 3), p95 %v (want 95)", got["p50"], got["p95"])
	}
	checkClean(t, ctx, log)
}

// TestBackoff checks the reconnect delays: exponential from 500 ms, capped at 15 s, with the
// jitter spreading each delay over its upper half.
func TestBackoff(t *testing.T) {
	srv := serveConsole(t, nil)
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/")
	got := eval[[][]float64](t, ctx, `import("./js/session.js").then(({ backoffDelay }) =>
		[1, 2, 3, 6, 7, 50].map((n) => [backoffDelay(n, () => 0), backoffDelay(n, () => 1)]))`)
	want := [][]float64{{250, 500}, {500, 1000}, {1000, 2000}, {7500, 15000}, {7500, 15000}, {7500, 15000}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("backoff ranges = %v, want %v", got, want)
	}
	checkClean(t, ctx, log)
}
