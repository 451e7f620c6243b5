package turn

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRevokeEndsAllocations: once a session's credentials are revoked (its console session
// ended), pion's own TURN client can no longer allocate with them, over UDP or TCP; the
// allocations they made are closed (nothing more is relayed, a Refresh or CreatePermission on
// them is refused); another user's allocation is untouched. Unexpired credentials alone would
// have kept working for their whole lifetime, and refreshing forever.
func TestRevokeEndsAllocations(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			echo := startUDPEcho(t)
			ts := startServer(t, func(c *Config) { c.AllowPeers = mustPrefixes([]string{"127.0.0.0/8"}) })
			u, p := ts.creds("s_ended", 10*time.Minute)
			other, otherPass := ts.creds("s_live", 10*time.Minute)

			c := newPionClient(t, ts, network, u, p)
			relay, err := c.Allocate()
			require.NoError(t, err)
			t.Cleanup(func() { _ = relay.Close() })
			_, err = relay.WriteTo([]byte("before"), udpAddr(echo.addr()))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return echo.count() == 1 }, 5*time.Second, 5*time.Millisecond, "relayed before the revocation")
			raw := dialRaw(t, ts, network, u, p) // a second allocation of the session, driven by hand
			require.Zero(t, errorCode(raw.allocate(protoUDPByte)))
			keep := newPionClient(t, ts, network, other, otherPass)
			kept, err := keep.Allocate()
			require.NoError(t, err)
			t.Cleanup(func() { _ = kept.Close() })
			require.Equal(t, 3, ts.pion.AllocationCount())

			assert.Equal(t, 2, ts.Revoke("s_ended", time.Now().Add(10*time.Minute)))

			require.Eventually(t, func() bool { return ts.pion.AllocationCount() == 1 }, 5*time.Second, 5*time.Millisecond,
				"pion deleted the revoked user's allocations")
			assert.Equal(t, 1.0, counter(t, ts.metrics.active), "only the other user's allocation is open")

			// The existing allocation: refreshing it is refused, and nothing more is relayed.
			res := raw.do(stun.MethodRefresh, rawAttr{stun.AttrLifetime, []byte{0, 0, 2, 88}})
			assert.Equal(t, stun.CodeUnauthorized, stun.ErrorCode(errorCode(res)), "refresh with revoked credentials")
			res = raw.do(stun.MethodCreatePermission, peerAttr(echo.addr()))
			assert.Equal(t, stun.CodeUnauthorized, stun.ErrorCode(errorCode(res)), "permission with revoked credentials")
			_, _ = relay.WriteTo([]byte("after"), udpAddr(echo.addr()))
			_, err = relay.WriteTo([]byte("after"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: int(echo.addr().Port())})
			assert.Error(t, err, "pion's client cannot get a permission on the closed allocation")

			// A new allocation with the same (unexpired) credentials is refused.
			again := newPionClient(t, ts, network, u, p)
			_, err = again.Allocate()
			require.Error(t, err)
			assert.Equal(t, int(stun.CodeUnauthorized), turnCode(err), "%v", err)
			assert.Positive(t, ts.refusals(t, refusedAuth))

			// The other user still relays.
			_, err = kept.WriteTo([]byte("other"), udpAddr(echo.addr()))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return echo.count() == 2 }, 5*time.Second, 5*time.Millisecond)
			assert.Equal(t, 2, echo.count(), "nothing of the revoked session was relayed after the revocation")
		})
	}
}

// TestRevocationsExpire: an entry lives until the time given (the last credential's expiry)
// and is forgotten after, so the set does not grow with every session ever ended.
func TestRevocationsExpire(t *testing.T) {
	r := newRevocations()
	now := time.Now()
	r.add("s_1", now.Add(time.Minute), now)
	r.add("s_1", now.Add(time.Second), now) // a shorter time never shortens the entry
	assert.True(t, r.has("s_1", now.Add(30*time.Second)))
	assert.False(t, r.has("s_2", now))
	assert.False(t, r.has("s_1", now.Add(2*time.Minute)))
	r.add("s_2", now.Add(3*time.Minute), now.Add(2*time.Minute))
	assert.Len(t, r.until, 1, "the expired entry was dropped")
}
