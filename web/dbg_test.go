package web

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestDbgVisual(t *testing.T) {
	relay := &fakeRelay{t: t}
	srv := serveConsole(t, relay.routes())
	relay.mu.Lock()
	relay.origin = originOf(t, srv.URL)
	relay.mu.Unlock()
	ctx, _ := openBrowser(t)
	do(t, ctx, chromedp.EmulateViewport(1024, 640))
	navigate(t, ctx, srv.URL+"/console/#code="+testCode)
	waitJS(t, ctx, `window.kvm.state === "waiting-agent"`, 10*time.Second)
	time.Sleep(400 * time.Millisecond)
	screenshot(t, ctx, "/tmp/dbg-waiting.png")

	agentCtx, closeAgent := chromedp.NewContext(ctx)
	defer closeAgent()
	chromedp.Do(agentCtx)
	agentCtx = context.WithValue(agentCtx, pageLogKey{}, &pageLog{})
	navigateUntil(t, agentCtx, srv.URL+"/agent/", `window.agent !== undefined`)
	waitJS(t, ctx, `window.kvm.state === "connected" && window.kvm.framesDecoded > 0`, 30*time.Second)
	eval[chromedp.Void](t, ctx, `document.getElementById("btn-keys").click()`)
	time.Sleep(400 * time.Millisecond)
	screenshot(t, ctx, "/tmp/dbg-menu.png")
	eval[chromedp.Void](t, ctx, `document.getElementById("keys-menu").hidePopover(); document.getElementById("btn-paste").click()`)
	do(t, ctx, chromedp.SendKeys(chromedp.ID("paste-text"), "sudo systemctl restart nginx"))
	time.Sleep(300 * time.Millisecond)
	screenshot(t, ctx, "/tmp/dbg-paste.png")
}
