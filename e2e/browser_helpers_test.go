package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// js evaluates an expression in the page (awaiting promises) and decodes it into T.
func js[T any](ctx context.Context, expr string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS polls a boolean expression until it is true, failing the test after timeout with a
// snapshot of the console's state.
func waitJS(t testing.TB, ctx context.Context, expr string, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := js[bool](ctx, "!!("+expr+")")
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			state, _ := js[string](ctx, `JSON.stringify({state: window.kvm && window.kvm.state, frames: window.kvm && window.kvm.framesDecoded, strip: window.kvm && window.kvm.stripCount, err: window.kvm && window.kvm.lastError, stats: window.kvm && window.kvm.stats})`)
			shot(t, ctx, what)
			t.Fatalf("timed out after %s waiting for %s (%s); console: %s", timeout, what, expr, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shot saves a screenshot next to the test's temp files when KVMRELAY_SHOTS names a folder.
func shot(t testing.TB, ctx context.Context, name string) {
	dir := os.Getenv("KVMRELAY_SHOTS")
	if dir == "" {
		return
	}
	img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-%s.png", t.Name(), name))
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
}

// openConsole navigates to a console link and waits for decoded video.
func openConsole(t testing.TB, ctx context.Context, link string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(link)))
	waitJS(t, ctx, `window.kvm && window.kvm.state === "connected"`, 20*time.Second, "connected")
	waitJS(t, ctx, `window.kvm.framesDecoded > 0`, 20*time.Second, "first decoded frame")
}

// key describes one key for DevTools' Input.dispatchKeyEvent.
type key struct {
	code, key string
	vk        int64
}

var letterA = key{"KeyA", "a", 65}

// press sends a trusted key down and up, as a person typing.
func press(ctx context.Context, k key) error {
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Code: k.code, Key: k.key, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk, Text: k.key}
	if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
		return err
	}
	up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Code: k.code, Key: k.key, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk}
	_, err := chromedp.Call(ctx, input.DispatchKeyEvent, up)
	return err
}

// mouseMove moves the pointer to viewport coordinates.
func mouseMove(ctx context.Context, x, y float64) error {
	_, err := chromedp.Call(ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: x, Y: y})
	return err
}
