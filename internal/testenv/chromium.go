package testenv

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath finds Debian's chromium (or $KVMRELAY_CHROMIUM) or stops the test.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KVMRELAY_CHROMIUM"); p != "" {
		return p
	}
	return LookPath(t, "chromium", "chromium")
}

// ChromiumFlags are the flags every browser test and benchmark starts Chromium with: headless,
// no network chatter to the outside, raw host candidates (no mDNS) so ICE works on the test
// network, autoplay without a gesture, and a fresh profile.
func ChromiumFlags(execPath, userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(userDataDir),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate,MediaRouter"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1600, 1000),
	}
}

// Chromium starts a headless Chromium for the test, with extra flags if any, and returns a
// chromedp context for one tab in it. The browser is stopped when the test ends.
func Chromium(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := ChromiumPath(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(ChromiumFlags(path, t.TempDir()), extra...)...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// The first Run starts the browser; it must not carry a timeout (it would stop the browser).
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}
