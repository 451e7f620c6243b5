package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// The dashboard's end-to-end tests run a real relay with its control plane, organizations
// bootstrapped as `kvmrelay admin create` does, agents enrolled with enrollment tokens as
// `kvmagent enroll` does, and drive the dashboard in Chromium.

const webPassword = "correct horse battery staple"

// tenant is an organization's owner, logged in through the API client kvmctl uses.
type tenant struct {
	slug, email string
	api         *client.Client
}

// newControlRelay starts a relay (no TURN: the browser tests here connect directly on the test
// network) with an organization per slug, each with an owner owner@<slug>.example.
func newControlRelay(t *testing.T, slugs ...string) (*stack, map[string]*tenant) {
	t.Helper()
	return newControlRelayWith(t, nil, slugs...)
}

// newControlRelayWith is newControlRelay with adjust applied to the relay's Config first.
func newControlRelayWith(t *testing.T, adjust func(*relay.Config), slugs ...string) (*stack, map[string]*tenant) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Invitation and console links start with the public URL: it must be the relay's real
	// address, so the port is chosen before the relay starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s := &stack{cfg: relay.Config{Listen: addr, PublicURL: "http://" + addr, DataDir: t.TempDir(), Logger: testLogger(), RedeemPerMinute: 10_000}}
	if adjust != nil {
		adjust(&s.cfg)
	}
	for _, slug := range slugs {
		_, _, err = relay.CreateOwner(ctx, s.cfg, strings.ToUpper(slug), slug, "owner@"+slug+".example", webPassword)
		require.NoError(t, err)
	}
	s.startRelay(t)
	t.Cleanup(s.stopRelay)
	tenants := map[string]*tenant{}
	for _, slug := range slugs {
		api, err := client.New(client.Config{Server: s.url, ConfigDir: t.TempDir()})
		require.NoError(t, err)
		email := "owner@" + slug + ".example"
		_, err = api.Login(ctx, client.LoginRequest{Org: slug, Email: email, Password: webPassword})
		require.NoError(t, err)
		tenants[slug] = &tenant{slug: slug, email: email, api: api}
	}
	return s, tenants
}

// enrollDevice creates a device through the API and enrolls an identity for it with a one-time
// enrollment token, as `kvmctl devices create` and `kvmagent enroll` do.
func enrollDevice(t *testing.T, s *stack, tn *tenant, name string, labels map[string]string) (client.Device, *enroll.Identity, *enroll.HTTPClient) {
	t.Helper()
	return enrollNewDevice(t, s, tn, client.NewDevice{Name: name, Labels: labels})
}

// enrollNewDevice is enrollDevice for any kind of device (a gateway).
func enrollNewDevice(t *testing.T, s *stack, tn *tenant, nd client.NewDevice) (client.Device, *enroll.Identity, *enroll.HTTPClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dev, err := tn.api.CreateDeviceWith(ctx, nd)
	require.NoError(t, err)
	tok, err := tn.api.CreateEnrollmentToken(ctx, dev.ID)
	require.NoError(t, err)
	hc, err := enroll.NewHTTPClient(s.url, nil)
	require.NoError(t, err)
	t.Cleanup(hc.CloseIdleConnections)
	id, err := enroll.Enroll(ctx, filepath.Join(t.TempDir(), "state"), tok.Token, hc)
	require.NoError(t, err)
	require.Equal(t, dev.ID, id.DeviceID())
	return dev, id, hc
}

// runEnrolledAgent runs a real agent serving the test pattern as the enrolled device id
// (proof of key on every connection) until the test ends.
func runEnrolledAgent(t *testing.T, s *stack, id *enroll.Identity, hc *enroll.HTTPClient, o stackOptions) *testpattern.Source {
	t.Helper()
	dev, err := testpattern.New(testpattern.Config{Width: o.width, Height: o.height, FPS: o.fps})
	require.NoError(t, err)
	source := dev.DeviceSource()
	if o.source != nil {
		source = o.source
	}
	cfg := agent.Config{
		Server: s.url,
		Auth: func(ctx context.Context) (http.Header, error) {
			return enroll.ProofHeader(ctx, hc, id, time.Now())
		},
		Source:       source,
		Consent:      o.consent,
		Supervisor:   device.SupervisorConfig{RetryMin: cmp.Or(o.retryMin, 100*time.Millisecond), RetryMax: max(time.Second, o.retryMin)},
		SourceKind:   "testpattern",
		NewEncoder:   encoders.New,
		Encoder:      media.EncoderConfig{FPS: o.fps},
		Logger:       testLogger().With("component", "agent"),
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,

		ControlRequestTimeout: o.controlTimeout,
	}
	if o.gateway != nil {
		// A gateway: its machines come from it; it looks at them and reports often.
		cfg.Source, cfg.Gateway, cfg.SourceKind = nil, o.gateway, "amt+mps"
		cfg.GatewayPoll, cfg.HeartbeatInterval = 300*time.Millisecond, time.Second
	}
	a, err := agent.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = dev.Close()
	})
	return dev
}

// reportAs connects to the relay as the enrolled device id, a rogue agent, and sends one
// heartbeat with whatever it claims about itself. The connection stays up until the test ends,
// so the device stays online.
func reportAs(t *testing.T, s *stack, id *enroll.Identity, hc *enroll.HTTPClient, hb wire.Heartbeat) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := enroll.ProofHeader(ctx, hc, id, time.Now())
	require.NoError(t, err)
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: "ws" + strings.TrimPrefix(s.url, "http") + "/ws/agent", Header: h})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Send(wire.TypeHeartbeat, "", hb))
}

// cspProbe runs in every new document of a tab before the page's scripts (DevTools-injected
// scripts are exempt from the CSP) and records each violation: a violation means something
// tried to run or load what the page never ships — markup from data, say.
const cspProbe = `document.addEventListener("securitypolicyviolation", (e) => {
	(window.__cspViolations ||= []).push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});`

func probeCSP(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
	require.NoError(t, err)
}

// dashboard opens the dashboard at the relay's root and waits for a view.
func dashboard(t *testing.T, ctx context.Context, url, view string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
	waitJS(t, ctx, `document.body.dataset.view === "`+view+`"`, 15*time.Second, "the "+view+" view")
}

// fill types text into an input as a person would (trusted key events), replacing its value.
func fill(t *testing.T, ctx context.Context, sel, text string) {
	t.Helper()
	q, err := json.Marshal(sel)
	require.NoError(t, err)
	_, err = js[bool](ctx, `(() => { const i = document.querySelector(`+string(q)+`); i.value = ""; return true; })()`)
	require.NoError(t, err)
	if text != "" {
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text)))
	} else {
		// Clearing is an edit too: tell the page, as typing would.
		_, err = js[bool](ctx, `document.querySelector(`+string(q)+`).dispatchEvent(new Event("input", {bubbles: true}))`)
		require.NoError(t, err)
	}
}

// click clicks an element with trusted mouse events (so the page may open a tab). The
// dashboard re-renders its list as data arrives: a node found can be replaced before DevTools
// clicks it ("Could not find node with given id"); then the element is looked up again.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	var err error
	for range 5 {
		if err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err == nil ||
			!strings.Contains(err.Error(), "Could not find node with given id") {
			break
		}
	}
	require.NoError(t, err)
}

// signIn fills the sign-in form and waits for the device list.
func signIn(t *testing.T, ctx context.Context, org, email, password string) {
	t.Helper()
	waitJS(t, ctx, `document.body.dataset.view === "signin"`, 15*time.Second, "the sign-in form")
	fill(t, ctx, "#signin-org", org)
	fill(t, ctx, "#signin-email", email)
	fill(t, ctx, "#signin-password", password)
	click(t, ctx, "#signin-submit")
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 15*time.Second, "the device list after signing in")
}

// signOut presses Sign out and waits for the sign-in form.
func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	click(t, ctx, "#signout")
	waitJS(t, ctx, `document.body.dataset.view === "signin"`, 15*time.Second, "the sign-in form after signing out")
}

// rowSel is the CSS selector of a device's row in the list.
func rowSel(deviceID string) string { return `tr[data-device-id="` + deviceID + `"]` }
