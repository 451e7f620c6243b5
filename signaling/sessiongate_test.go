package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// gate is a SessionGate over a set of sessions a test can end, and whose grants it can change.
type gate struct {
	mu     sync.Mutex
	live   map[string]bool
	grants map[string]wire.Grant // by session; none: control
	flaky  bool                  // Check fails with a transient error
	checks int
}

func (g *gate) grantLocked(sid string) wire.Grant {
	if gr, ok := g.grants[sid]; ok {
		return gr
	}
	return wire.GrantControl
}

func (g *gate) Admit(_ context.Context, c auth.Claims) (wire.Grant, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.live[c.Session] {
		return "", fmt.Errorf("session %s: %w", c.Session, ErrSessionOver)
	}
	return g.grantLocked(c.Session), nil
}

func (g *gate) Check(_ context.Context, c auth.Claims) (wire.Grant, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.checks++
	if g.flaky {
		return "", errors.New("store unreachable")
	}
	if !g.live[c.Session] {
		return "", fmt.Errorf("session %s: %w", c.Session, ErrSessionOver)
	}
	return g.grantLocked(c.Session), nil
}

func (g *gate) set(f func()) { g.mu.Lock(); defer g.mu.Unlock(); f() }

func tenantToken(t *testing.T, r *testRelay, sid string) string {
	t.Helper()
	tok, _, err := r.issuer.Mint(auth.Claims{Subject: "user:ann", Audience: auth.AudienceConsole, Device: "dev1", Session: sid, Tenant: "org1"}, time.Minute)
	require.NoError(t, err)
	return tok
}

// TestSessionGate: a control-plane console is admitted only while its stored session is live,
// is cut with a final session-ended error when the session ends (EndSession on this node, or
// the periodic check for a stop decided elsewhere), and survives a transient check failure.
func TestSessionGate(t *testing.T) {
	g := &gate{live: map[string]bool{"s_live": true, "s_cut": true, "s_watch": true}}
	r := startRelayWith(t, func(c *Config) { c.Sessions = g; c.SessionCheckInterval = 50 * time.Millisecond })

	_, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_over"), r.origin())
	require.ErrorIs(t, err, sigclient.ErrRefused)
	assert.Contains(t, err.Error(), "HTTP 403", "an ended session is refused before the upgrade")

	legacy, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_over"), r.origin())
	require.NoError(t, err, "a token without a tenant is the relay operator's own and is not gated")
	legacy.Close()

	endedWith := func(c *sigclient.Client) wire.ErrorMessage {
		t.Helper()
		e := recvType(t, c, wire.TypeError)
		var m wire.ErrorMessage
		require.NoError(t, json.Unmarshal(e.Data, &m))
		_, err := recv(t, c)
		require.Error(t, err, "the relay closes the connection after the error")
		return m
	}

	cut, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_cut"), r.origin())
	require.NoError(t, err)
	recvType(t, cut, wire.TypeWelcome)
	assert.False(t, r.srv.EndSession("s_nobody", "test"), "no console of that session here")
	require.Eventually(t, func() bool { return r.srv.EndSession("s_cut", "stopped by an admin") }, 2*time.Second, 10*time.Millisecond)
	m := endedWith(cut)
	assert.Equal(t, wire.CodeSessionEnded, m.Code)
	assert.Contains(t, m.Message, "stopped by an admin")

	g.set(func() { g.flaky = true })
	watch, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_watch"), r.origin())
	require.NoError(t, err)
	recvType(t, watch, wire.TypeWelcome)
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.checks >= 3 }, 2*time.Second, 10*time.Millisecond)
	g.set(func() { g.flaky = false; g.live["s_watch"] = false })
	m = endedWith(watch)
	assert.Equal(t, wire.CodeSessionEnded, m.Code)
}
