package relay

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// tenantConsole starts a stored session for a new device of org and dials its console; it
// returns the console, its session and its principal.
func tenantConsole(t *testing.T, r *Relay, org store.Organization) (*sigclient.Client, string, string) {
	t.Helper()
	ctx := context.Background()
	var d store.Device
	var principal string // an operator: console rights are re-derived from the store
	require.NoError(t, r.Store().Write(ctx, org.ID, func(tx store.Tx) error {
		var err error
		if d, err = tx.CreateDevice(ctx, store.Device{Name: "rack"}); err != nil {
			return err
		}
		u, err := tx.CreateUser(ctx, store.User{Email: "op@" + org.Slug + ".example", Role: store.RoleOperator, CreatedAt: time.Now()})
		principal = "user:" + u.ID
		return err
	}))
	started, err := r.control.sessions.Start(ctx, org.ID, principal, d.ID, wire.GrantControl)
	require.NoError(t, err)
	tok, _, err := r.Issuer().Mint(auth.Claims{Subject: principal, Audience: auth.AudienceConsole,
		Device: d.ID, Session: started.Session.ID, Tenant: org.ID}, time.Minute)
	require.NoError(t, err)
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: "ws" + strings.TrimPrefix(r.URL(), "http") + "/ws/console", Token: tok})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, started.Session.ID, principal
}

// nextError reads until an error message arrives (skipping welcome and agent status).
func nextError(t *testing.T, c *sigclient.Client) wire.ErrorMessage {
	t.Helper()
	for {
		e, err := c.Recv()
		require.NoError(t, err)
		if e.Type != wire.TypeError {
			continue
		}
		var m wire.ErrorMessage
		require.NoError(t, json.Unmarshal(e.Data, &m))
		return m
	}
}

// TestCrossTenantSignalingAudited is SECURITY.md item 4 across tenants: a console of
// organization A that addresses organization B's session is refused, the attempt lands in A's
// audit chain (never B's), and B's console hears nothing of it.
func TestCrossTenantSignalingAudited(t *testing.T) {
	r := startRelay(t, false)
	ctx := context.Background()
	a, err := r.Store().CreateOrganization(ctx, store.Organization{Name: "A", Slug: "org-a"})
	require.NoError(t, err)
	b, err := r.Store().CreateOrganization(ctx, store.Organization{Name: "B", Slug: "org-b"})
	require.NoError(t, err)
	ca, _, principalA := tenantConsole(t, r, a)
	cb, sidB, _ := tenantConsole(t, r, b)

	msg, err := wire.Encode(wire.TypeCandidate, sidB, wire.Candidate{Candidate: "candidate:1 1 udp 1 198.51.100.1 9 typ host"})
	require.NoError(t, err)
	require.NoError(t, ca.SendRaw(msg))
	assert.Equal(t, wire.CodeForbidden, nextError(t, ca).Code)

	actions := func(org string) map[store.AuditAction]int {
		out := map[store.AuditAction]int{}
		require.NoError(t, r.Store().Read(ctx, org, func(tx store.Tx) error {
			es, err := tx.Audit(ctx, 0, 100)
			for _, e := range es {
				out[e.Record.Action]++
				if e.Record.Action == store.AuditAccessDenied {
					assert.Equal(t, "session:"+sidB, e.Record.Target)
					assert.Equal(t, principalA, e.Record.Actor)
				}
			}
			return err
		}))
		return out
	}
	assert.Equal(t, 1, actions(a.ID)[store.AuditAccessDenied])
	assert.Zero(t, actions(b.ID)[store.AuditAccessDenied])

	// B's console got nothing but its own welcome and agent status.
	got := make(chan wire.Envelope, 8)
	go func() {
		for {
			e, err := cb.Recv()
			if err != nil {
				close(got)
				return
			}
			got <- e
		}
	}()
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case e, ok := <-got:
			if !ok {
				return
			}
			assert.Contains(t, []wire.Type{wire.TypeWelcome, wire.TypeAgentStatus}, e.Type, "B's console received %s", e.Type)
		case <-deadline:
			return
		}
	}
}
