package signaling

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// lifecycleLog records what a SessionLifecycle was told.
type lifecycleLog struct {
	mu     sync.Mutex
	events []string
	seen   chan struct{}
}

func (l *lifecycleLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	l.seen <- struct{}{}
}

func (l *lifecycleLog) Closed(_ context.Context, c auth.Claims) error {
	l.add("closed " + c.Session + " by " + c.Subject)
	return nil
}

func (l *lifecycleLog) Left(_ context.Context, c auth.Claims) error {
	l.add("left " + c.Session)
	return nil
}

func (l *lifecycleLog) wait(t *testing.T, n int) []string {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-l.seen:
		case <-time.After(5 * time.Second):
			t.Fatalf("the session lifecycle heard %d of %d events", i, n)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// TestConsoleByeEndsSession: a console's `bye` tells the control plane the person closed the
// session (and the agent hears it); a connection lost without `bye` only reports that it left;
// a connection replaced by the session's reconnect reports nothing; consoles without a tenant
// (kvmrelay token console) have no stored session to tell.
func TestConsoleByeEndsSession(t *testing.T) {
	cases := []struct {
		name string
		play func(t *testing.T, r *testRelay, agent *sigclient.Client)
		want []string
	}{
		{"disconnect button", func(t *testing.T, r *testRelay, agent *sigclient.Client) {
			c, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_1"), r.origin())
			require.NoError(t, err)
			recvType(t, c, wire.TypeWelcome)
			waitOnline(t, c) // the agent's subscription is in place
			require.NoError(t, c.Send(wire.TypeBye, "s_1", wire.Bye{Reason: "the console was closed"}))
			recvFor(t, agent, wire.TypeBye, "s_1")
		}, []string{"closed s_1 by user:ann"}},
		{"tab closed", func(t *testing.T, r *testRelay, _ *sigclient.Client) {
			c, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_1"), r.origin())
			require.NoError(t, err)
			recvType(t, c, wire.TypeWelcome)
			c.Close()
		}, []string{"left s_1"}},
		{"reconnect replaces the connection", func(t *testing.T, r *testRelay, _ *sigclient.Client) {
			old, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_1"), r.origin())
			require.NoError(t, err)
			recvType(t, old, wire.TypeWelcome)
			fresh, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_1"), r.origin())
			require.NoError(t, err)
			recvType(t, fresh, wire.TypeWelcome)
			for {
				if _, err := recv(t, old); err != nil {
					break // the old connection is closed
				}
			}
			fresh.Close() // only this one counts
		}, []string{"left s_1"}},
		{"no tenant", func(t *testing.T, r *testRelay, _ *sigclient.Client) {
			c, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_2"), r.origin())
			require.NoError(t, err)
			recvType(t, c, wire.TypeWelcome)
			require.NoError(t, c.Send(wire.TypeBye, "s_2", wire.Bye{Reason: "x"}))
			c2, err := r.dial(t, "/ws/console", tenantToken(t, r, "s_3"), r.origin())
			require.NoError(t, err)
			recvType(t, c2, wire.TypeWelcome)
			c2.Close() // a marker: the tenant-less console before it reported nothing
		}, []string{"left s_3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &lifecycleLog{seen: make(chan struct{}, 16)}
			r := startRelayWith(t, func(c *Config) { c.Lifecycle = l })
			agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
			require.NoError(t, err)
			tc.play(t, r, agent)
			assert.Equal(t, tc.want, l.wait(t, len(tc.want)))
			select {
			case <-l.seen:
				t.Fatalf("more lifecycle events than expected: %v", l.events)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}
