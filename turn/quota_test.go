package turn

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuotaPerUser(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.QuotaPerUser = 2; c.QuotaTotal = 100 })
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			// Two credentials for the same user (different expiry) share the user's quota.
			u1, p1 := ts.creds("alice", time.Minute)
			u2, p2 := ts.creds("alice", 2*time.Minute)
			var relays []net.PacketConn
			for _, up := range [][2]string{{u1, p1}, {u2, p2}} {
				relay, err := newPionClient(t, ts, network, up[0], up[1]).Allocate()
				require.NoError(t, err)
				relays = append(relays, relay)
			}
			_, err := newPionClient(t, ts, network, u1, p1).Allocate()
			assert.Equal(t, int(stun.CodeAllocQuotaReached), turnCode(err), "%v", err)

			// Another user is not affected.
			ub, pb := ts.creds("bob", time.Minute)
			relay, err := newPionClient(t, ts, network, ub, pb).Allocate()
			require.NoError(t, err)
			require.NoError(t, relay.Close())

			// Closing one allocation (Refresh 0) gives its slot back. pion's client does not
			// wait for the answer, and a new client may be served by another read loop
			// (UDPSockets), so wait for the server to have handled the Refresh.
			require.NoError(t, relays[0].Close())
			waitUserAllocations(t, ts, "alice", 1)
			relay, err = newPionClient(t, ts, network, u1, p1).Allocate()
			require.NoError(t, err)
			require.NoError(t, relay.Close())
			require.NoError(t, relays[1].Close())
			waitUserAllocations(t, ts, "alice", 0)
		})
	}
	assert.Equal(t, float64(2), ts.refusals(t, refusedQuota))
}

// waitUserAllocations waits until user holds n allocations.
func waitUserAllocations(t *testing.T, ts *testServer, user string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		ts.quota.mu.Lock()
		defer ts.quota.mu.Unlock()
		return ts.quota.byUser[user] == n
	}, 5*time.Second, time.Millisecond, "%s holds %d allocations", user, n)
}

func TestQuotaTotal(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.QuotaPerUser = 5; c.QuotaTotal = 3 })
	var relays []net.PacketConn
	for _, user := range []string{"a", "b", "c"} {
		u, p := ts.creds(user, time.Minute)
		relay, err := newPionClient(t, ts, "udp", u, p).Allocate()
		require.NoError(t, err)
		relays = append(relays, relay)
	}
	assert.Equal(t, float64(3), counter(t, ts.metrics.active))
	u, p := ts.creds("d", time.Minute)
	_, err := newPionClient(t, ts, "tcp", u, p).Allocate()
	assert.Equal(t, int(stun.CodeAllocQuotaReached), turnCode(err), "%v", err)

	// A TCP connection closing ends its allocation and frees the slot (pion deletes the
	// allocation when its control connection goes).
	c := newPionClient(t, ts, "tcp", u, p)
	for _, r := range relays {
		require.NoError(t, r.Close())
	}
	require.Eventually(t, func() bool { return counter(t, ts.metrics.active) == 0 }, 5*time.Second, 5*time.Millisecond)
	relay, err := c.Allocate()
	require.NoError(t, err)
	c.close()
	require.Eventually(t, func() bool { return counter(t, ts.metrics.active) == 0 }, 5*time.Second, 5*time.Millisecond,
		"closing the TCP connection ends its allocation")
	_ = relay.Close() // stops the client's timers; its Refresh has nowhere to go

}

func TestQuotaUnit(t *testing.T) {
	q := newQuota(2, 3)
	r1, err := q.acquire("a")
	require.NoError(t, err)
	r2, err := q.acquire("a")
	require.NoError(t, err)
	assert.True(t, q.full("a"))
	_, err = q.acquire("a")
	require.ErrorIs(t, err, ErrQuota)
	r3, err := q.acquire("b")
	require.NoError(t, err)
	assert.True(t, q.full("c"), "total reached")
	_, err = q.acquire("c")
	require.ErrorIs(t, err, ErrQuota)
	r1()
	r1() // idempotent
	assert.False(t, q.full("a"))
	probe, err := q.acquire("")
	require.NoError(t, err, "pion's even-port probe is not counted")
	probe()
	r2()
	r3()
	assert.Zero(t, q.used)
	assert.Empty(t, q.byUser)
}
