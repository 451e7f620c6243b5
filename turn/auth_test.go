package turn

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAllocateCredentials makes real allocations with pion's client, over UDP and TCP, with
// good and bad TURN REST credentials.
func TestAllocateCredentials(t *testing.T) {
	oldSecret := []byte("old-secret-old-secret-old-secret")
	newSecret := []byte("new-secret-new-secret-new-secret")
	ts := startServer(t, func(c *Config) { c.Secrets = [][]byte{newSecret, oldSecret} })

	good := func(secret []byte, user string) (string, string) {
		return MintCredentials(secret, user, time.Now().Add(time.Minute))
	}
	u, p := good(newSecret, "alice")
	uOld, pOld := good(oldSecret, "bob")
	uExp, pExp := MintCredentials(newSecret, "carol", time.Now().Add(-time.Second))
	uWrong, pWrong := good([]byte("someone-elses-secret-0123456789"), "dave")

	for _, tc := range []struct {
		name               string
		username, password string
		wantCode           int
	}{
		{"current secret", u, p, 0},
		{"previous secret during rotation", uOld, pOld, 0},
		{"expired", uExp, pExp, int(stun.CodeUnauthorized)},
		{"tampered user part", strings.Replace(u, "alice", "admin", 1), p, int(stun.CodeUnauthorized)},
		{"tampered expiry", "9" + u, p, int(stun.CodeUnauthorized)},
		{"wrong secret", uWrong, pWrong, int(stun.CodeUnauthorized)},
		{"empty password", u, "", int(stun.CodeUnauthorized)},
		{"malformed username", "alice", p, int(stun.CodeUnauthorized)},
		{"empty username", "", p, int(stun.CodeUnauthorized)},
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				c := newPionClient(t, ts, network, tc.username, tc.password)
				relay, err := c.Allocate()
				if tc.wantCode == 0 {
					require.NoError(t, err)
					require.NoError(t, relay.Close())
					return
				}
				require.Error(t, err)
				assert.Equal(t, tc.wantCode, turnCode(err), "%v", err)
			})
		}
	}
	assert.Positive(t, ts.refusals(t, refusedAuth))
	// pion's client does not wait for its Refresh 0 to be answered.
	assert.Eventually(t, func() bool { return counter(t, ts.metrics.active) == 0 }, 5*time.Second, time.Millisecond,
		"all closed")
}

// TestWrongRealm: credentials are bound to our realm.
func TestWrongRealm(t *testing.T) {
	ts := startServer(t, nil)
	u, p := ts.creds("alice", time.Minute)
	c := dialRaw(t, ts, "udp", u, p)
	c.realm = "evil.example"
	c.integrity = stun.NewLongTermIntegrity(u, c.realm, p)
	// The first answer is the challenge, which carries our realm; the client insists on its own.
	res := c.allocate(protoUDPByte)
	assert.Equal(t, stun.CodeUnauthorized, stun.ErrorCode(errorCode(res)))
}

// TestExpiredCredentialsKeepTheirAllocation: as coturn, expiry is checked when an
// allocation is made; requests on it keep working with the credentials it was made with.
func TestExpiredCredentialsKeepTheirAllocation(t *testing.T) {
	now := time.Now()
	clock := &fakeClock{t: now}
	ts := startServer(t, func(c *Config) {
		c.hooks.now = clock.now
		c.AllowPeers = mustPrefixes([]string{"127.0.0.0/8"})
	})
	u, p := MintCredentials(testSecret, "alice", now.Add(time.Minute))
	c := dialRaw(t, ts, "udp", u, p)
	require.Zero(t, errorCode(c.allocate(protoUDPByte)))
	clock.set(now.Add(time.Hour))
	assert.Zero(t, errorCode(c.do(stun.MethodCreatePermission, peerAttr(mustAddrPort("127.0.0.1:9")))))
	assert.Zero(t, errorCode(c.do(stun.MethodRefresh, rawAttr{stun.AttrLifetime, []byte{0, 0, 2, 88}})))

	c2 := dialRaw(t, ts, "udp", u, p)
	assert.Equal(t, stun.CodeUnauthorized, stun.ErrorCode(errorCode(c2.allocate(protoUDPByte))), "no new allocation")
}

// TestRotatedSecretThroughGuard: with the previous secret, the guard's own refusals are
// signed with the requester's key, and pion authenticates the rest.
func TestRotatedSecretThroughGuard(t *testing.T) {
	oldSecret := []byte("old-secret-old-secret-old-secret")
	ts := startServer(t, func(c *Config) {
		c.Secrets = [][]byte{testSecret, oldSecret}
		c.AllowPeers = mustPrefixes([]string{"127.0.0.0/8"})
	})
	u, p := MintCredentials(oldSecret, "alice", time.Now().Add(time.Minute))
	for _, network := range []string{"udp", "tcp"} {
		c := dialRaw(t, ts, network, u, p)
		require.Zero(t, errorCode(c.allocate(protoUDPByte)), network)
		res := c.do(stun.MethodCreatePermission, peerAttr(mustAddrPort("10.0.0.1:80")))
		assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), network)
		assert.NoError(t, c.integrity.Check(res), "signed with the old secret's key")
		assert.Zero(t, errorCode(c.do(stun.MethodCreatePermission, peerAttr(mustAddrPort("127.0.0.1:80")))), network)
	}
}
