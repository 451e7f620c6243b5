package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestControlPlaneConsole is the control plane end to end on a real relay: an owner bootstrapped
// with `admin create` logs in through the API (the kvmctl client), creates a device, starts a
// console session and gets a console URL; the console works on that URL once; stopping the
// session cuts the live console with a final session-ended; revoking the device ends its next
// session and cuts its agent.
func TestControlPlaneConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := &stack{cfg: relay.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testLogger(), RedeemPerMinute: 10_000}}
	const password = "correct horse battery staple"
	_, _, err := relay.CreateOwner(ctx, s.cfg, "Acme Corp", "acme", "ann@acme.example", password)
	require.NoError(t, err)
	s.startRelay(t)
	defer s.stopRelay()

	api, err := client.New(client.Config{Server: s.url, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	_, err = api.Login(ctx, client.LoginRequest{Org: "acme", Email: "ann@acme.example", Password: password})
	require.NoError(t, err)
	dev, err := api.CreateDevice(ctx, "rack-1", map[string]string{"site": "fra1"})
	require.NoError(t, err)

	// The agent identifies as the device (here with a relay-signed agent token; enrollment
	// has its own tests).
	tok, err := relay.AgentToken(s.relay.Issuer(), dev.ID, time.Hour)
	require.NoError(t, err)
	_, _, stopAgent := startAgent(t, s.url, tok, stackOptions{width: 640, height: 360, fps: 30})
	defer stopAgent()
	s.waitAgent(t)

	start, err := api.StartConsole(ctx, dev.ID)
	require.NoError(t, err)
	assert.Equal(t, "REQUESTED", string(start.Session.Current))
	code, err := testconsole.CodeFromLink(start.ConsoleURL)
	require.NoError(t, err)
	c, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, start.Session.ID, c.SID(), "the console joins the stored session, not a new one")
	_, err = c.WaitVideo(ctx)
	require.NoError(t, err, "frames decode on the console")
	got, err := api.Session(ctx, start.Session.ID)
	require.NoError(t, err)
	assert.Equal(t, "ACTIVE", string(got.Current))
	assert.NotNil(t, got.LastActivity)

	_, err = testconsole.Redeem(ctx, s.url, code)
	require.Error(t, err, "the console URL opens once")

	n, err := api.StopConsole(ctx, dev.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Eventually(t, func() bool {
		for _, e := range c.Errors() {
			if e.Code == wire.CodeSessionEnded {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the live console is told its session ended")
	got, err = api.Session(ctx, start.Session.ID)
	require.NoError(t, err)
	assert.Equal(t, "STOPPED", string(got.Current))
	// A console token for it (as the console holds) no longer opens signaling: refused before
	// the upgrade.
	me, err := api.Me(ctx)
	require.NoError(t, err)
	stale, _, err := s.relay.Issuer().Mint(auth.Claims{Subject: got.Principal.String(), Audience: auth.AudienceConsole,
		Device: dev.ID, Session: got.ID, Tenant: me.OrgID}, time.Minute)
	require.NoError(t, err)
	_, err = sigclient.Dial(ctx, sigclient.DialConfig{URL: "ws" + strings.TrimPrefix(s.url, "http") + "/ws/console", Token: stale})
	require.ErrorIs(t, err, sigclient.ErrRefused)
	assert.Contains(t, err.Error(), "HTTP 403")

	// A second session, then revoke the device: the console is ended, the agent is cut, and no
	// new session can start.
	second, err := api.StartConsole(ctx, dev.ID)
	require.NoError(t, err)
	code2, err := testconsole.CodeFromLink(second.ConsoleURL)
	require.NoError(t, err)
	c2, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code2})
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, api.RevokeDevice(ctx, dev.ID))
	require.Eventually(t, func() bool {
		for _, e := range c2.Errors() {
			if e.Code == wire.CodeSessionEnded {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		v, err := s.relayMetric("kvmrelay_agents_connected")
		return err == nil && v == 0
	}, 10*time.Second, 20*time.Millisecond, "the revoked device's agent is cut")
	_, err = api.StartConsole(ctx, dev.ID)
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusConflict, apiErr.Status)

	audit, err := api.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, audit.OK)
}
