package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/relay"
)

// TestTokenConsoleByName is kvmrelay issue 12, item 7: `kvmrelay token console --device NAME`
// for a device of the control plane, whose enrolled agent connects under the device's id.
// The link used to name the device by its name, so the console waited for an agent that never
// came under that name; now it opens a real session of the device (any case of the name),
// which connects, shows video, and is listed by the API with who started it.
func TestTokenConsoleByName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, tenants := newControlRelay(t, "acme")
	dev, id, hc := enrollDevice(t, s, tenants["acme"], "rack12-node3", nil)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30})
	s.waitAgent(t)

	link, err := relay.ConsoleLinkForDevice(ctx, s.cfg, "RACK12-node3", "ops")
	require.NoError(t, err)
	code, err := testconsole.CodeFromLink(link)
	require.NoError(t, err)
	c, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code})
	require.NoError(t, err)
	defer c.Close()
	waitCtx, done := context.WithTimeout(ctx, 20*time.Second)
	defer done()
	_, err = c.WaitVideo(waitCtx)
	require.NoError(t, err, "the console reaches the enrolled agent and decodes video")

	sessions, err := tenants["acme"].api.DeviceSessions(ctx, dev.ID)
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	assert.Equal(t, c.SID(), sessions[0].ID)
	assert.Equal(t, "ACTIVE", string(sessions[0].Current))
	assert.Equal(t, "relay:ops", sessions[0].Principal.String())

	_, err = relay.ConsoleLinkForDevice(ctx, s.cfg, "rack99", "ops")
	assert.ErrorIs(t, err, relay.ErrNoSuchDevice, "an unknown name is said so (the command then mints a bare link)")
}
