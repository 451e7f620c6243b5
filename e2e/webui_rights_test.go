package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestConsoleShowsLostRight is SECURITY.md item 17 in the browser: a console opened with an
// operator's API key, with video playing, ends at once when an admin revokes the key, and the
// page says why; the key's console link not yet opened is refused, saying why too.
func TestConsoleShowsLostRight(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	fra := map[string]string{"site": "fra1"}
	dev, id, hc := enrollDevice(t, s, acme, "rack12-node3", fra)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key, err := acme.api.CreateAPIKey(ctx, client.NewAPIKey{Name: "automation", Role: "operator", Scope: fra})
	require.NoError(t, err)
	automation, err := client.New(client.Config{Server: s.url, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	_, err = automation.LoginAPIKey(ctx, key.Key)
	require.NoError(t, err)
	live, err := automation.StartConsole(ctx, dev.ID)
	require.NoError(t, err)
	unopened, err := automation.StartConsole(ctx, dev.ID)
	require.NoError(t, err)

	browser := testenv.Chromium(t)
	openConsole(t, browser, live.ConsoleURL)
	shot(t, browser, "rights-console")

	require.NoError(t, acme.api.RevokeAPIKey(ctx, key.APIKey.ID))
	const reason = "the API key that opened this console was revoked"
	// Well within the 15 s of the periodic session check: the revocation itself ends it.
	waitJS(t, browser, `window.kvm.state === "closed"`, 5*time.Second, "the console closed by the revocation")
	page, err := js[string](browser, `document.body.innerText`)
	require.NoError(t, err)
	assert.Contains(t, page, reason, "the console says why it ended")
	shot(t, browser, "rights-console-ended")

	tab, closeTab := chromedp.NewContext(browser) // a new tab: the same page with another fragment would not reload
	defer closeTab()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(unopened.ConsoleURL)))
	waitJS(t, tab, `window.kvm && window.kvm.state === "failed"`, 10*time.Second, "the unopened link refused")
	page, err = js[string](tab, `document.body.innerText`)
	require.NoError(t, err)
	assert.Contains(t, page, reason, "the link's page says why")
	shot(t, tab, "rights-link-refused")
}
