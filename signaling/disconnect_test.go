package signaling

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// recvError reads until an error message arrives and returns its code; it fails the test if
// the connection closes first.
func recvError(t *testing.T, c *sigclient.Client) wire.ErrorMessage {
	t.Helper()
	e := recvType(t, c, wire.TypeError)
	var m wire.ErrorMessage
	require.NoError(t, wire.DecodeData(e, &m))
	return m
}

// waitClosed reads (and drops) c's messages until the relay closes it.
func waitClosed(t *testing.T, c *sigclient.Client) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			if _, err := c.Recv(); err != nil {
				return
			}
		}
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not close the connection")
	}
}

// TestDisconnectDeviceAcrossNodes: a device disconnected on one node loses its agent and its
// consoles on another node sharing the bus, at once; other devices keep theirs.
func TestDisconnectDeviceAcrossNodes(t *testing.T) {
	bus := NewMemoryBus()
	t.Cleanup(func() { bus.Close() }) // after both relays (cleanups run last-registered first)
	reg := NewMemoryRegistry()
	var endedB ended
	a := startRelayWith(t, func(c *Config) { c.Bus, c.Registry = bus, reg })
	b := startRelayWith(t, func(c *Config) { c.Bus, c.Registry, c.OnSessionEnd = bus, reg, endedB.add })

	agent1, err := b.dial(t, "/ws/agent", b.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	console1, err := b.dial(t, "/ws/console", b.consoleToken(t, "dev1", "s_1"), "")
	require.NoError(t, err)
	waitOnline(t, console1)
	agent2, err := b.dial(t, "/ws/agent", b.agentToken(t, "dev2"), "")
	require.NoError(t, err)
	console2, err := b.dial(t, "/ws/console", b.consoleToken(t, "dev2", "s_2"), "")
	require.NoError(t, err)
	waitOnline(t, console2)

	n, err := a.srv.DisconnectDevice(context.Background(), "dev1", "device revoked")
	require.NoError(t, err)
	assert.Equal(t, 0, n, "node A held none of dev1's connections")

	m := recvError(t, agent1)
	assert.Equal(t, wire.CodeUnauthorized, m.Code)
	assert.Contains(t, m.Message, "device revoked")
	waitClosed(t, agent1)
	m = recvError(t, console1)
	assert.Equal(t, wire.CodeSessionEnded, m.Code)
	waitClosed(t, console1)
	assert.Equal(t, []string{"s_1"}, endedB.list(), "the cut console's session ends (its TURN) where it was")

	// Another device's agent and console stay, and still reach each other.
	require.NoError(t, console2.Send(wire.TypeJoin, "s_2", wire.Join{Codecs: []string{"video/VP8"}}))
	assert.Equal(t, "s_2", recvType(t, agent2, wire.TypeSessionStart).SID)

	n, err = b.srv.DisconnectDevice(context.Background(), "dev2", "device revoked")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "locally: the agent and its console")
	waitClosed(t, agent2)
	waitClosed(t, console2)
}

// TestAgentAuthHook: AgentAuth decides agents that carry its credentials, before the token;
// agents without them fall through to the token.
func TestAgentAuthHook(t *testing.T) {
	var mu sync.Mutex
	var beats []auth.Claims
	var got []wire.Heartbeat
	r := startRelayWith(t, func(c *Config) {
		c.AgentAuth = func(c *fiber.Ctx) (auth.Claims, bool, error) {
			switch dev := c.Get("X-Test-Device"); dev {
			case "":
				return auth.Claims{}, false, nil
			case "forged":
				return auth.Claims{}, true, errors.New("bad proof")
			default:
				return auth.Claims{Subject: "device:" + dev, Audience: auth.AudienceAgent, Device: dev, Tenant: "org-1"}, true, nil
			}
		}
		c.OnHeartbeat = func(_ context.Context, c auth.Claims, hb wire.Heartbeat) {
			mu.Lock()
			defer mu.Unlock()
			beats = append(beats, c)
			got = append(got, hb)
		}
	})
	dial := func(device, token string) (*sigclient.Client, error) {
		h := http.Header{}
		if device != "" {
			h.Set("X-Test-Device", device)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: r.url + "/ws/agent", Token: token, Header: h})
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}
	jwt := r.agentToken(t, "dev-jwt")
	for _, tc := range []struct {
		name, device, token string
		ok                  bool
	}{
		{"hook credentials, no token", "dev-hook", "", true},
		{"hook refuses, valid token does not help", "forged", jwt, false},
		{"no hook credentials, token", "", jwt, true},
		{"neither", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dial(tc.device, tc.token)
			if !tc.ok {
				require.ErrorIs(t, err, sigclient.ErrRefused)
				assert.Contains(t, err.Error(), "HTTP 401")
				return
			}
			require.NoError(t, err)
			require.NoError(t, c.Send(wire.TypeHeartbeat, "", wire.Heartbeat{Version: "1.2.3", Sources: []string{"testpattern"}, Sizes: []string{"640x480"}, Codecs: []string{"video/VP8"}}))
			require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(beats) > 0 }, 5*time.Second, 10*time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			want := tc.device
			if want == "" {
				want = "dev-jwt"
			}
			assert.Equal(t, want, beats[0].Device, "the heartbeat carries the authenticated identity")
			assert.Equal(t, wire.Heartbeat{Version: "1.2.3", Sources: []string{"testpattern"}, Sizes: []string{"640x480"}, Codecs: []string{"video/VP8"}}, got[0])
			beats, got = nil, nil
		})
	}
}

// TestHeartbeatRefusals: a heartbeat with malformed data closes the agent; a console may not
// send one.
func TestHeartbeatRefusals(t *testing.T) {
	r := startRelay(t)
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	require.NoError(t, agent.SendRaw([]byte(`{"v":1,"type":"heartbeat","data":{"version":"1","evil":true}}`)))
	assert.Equal(t, wire.CodeBadMessage, recvError(t, agent).Code)
	waitClosed(t, agent)

	console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_1"), "")
	require.NoError(t, err)
	require.NoError(t, console.Send(wire.TypeHeartbeat, "s_1", wire.Heartbeat{Version: "1"}))
	assert.Equal(t, wire.CodeBadMessage, recvError(t, console).Code)
}
