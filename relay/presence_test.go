package relay

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// postgresConfig points a relay at a fresh PostgreSQL database, migrated by its owner and
// used through the application role, as in production.
func postgresConfig(t *testing.T) func(*Config) {
	t.Helper()
	owner := pg.Get(t).CreateDatabase(t)
	role := "kvmrelay_app_" + strings.ReplaceAll(store.NewID()[:8], "-", "")
	_, err := Migrate(context.Background(), "", owner, role, "app-password")
	require.NoError(t, err)
	u, err := url.Parse(owner)
	require.NoError(t, err)
	u.User = url.UserPassword(role, "app-password")
	return func(c *Config) { c.DatabaseURL = u.String() }
}

// recvErrorCode reads until an error message and returns its code.
func recvErrorCode(t *testing.T, c *sigclient.Client) string {
	t.Helper()
	for {
		e, err := recvWithin(t, c)
		require.NoError(t, err, "the connection closed before the relay said why")
		if e.Type != wire.TypeError {
			continue
		}
		var m wire.ErrorMessage
		require.NoError(t, wire.DecodeData(e, &m))
		return m.Code
	}
}

// waitClosedWithin reads c until the relay closes it; it fails after limit.
func waitClosedWithin(t *testing.T, c *sigclient.Client, limit time.Duration) {
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
	case <-time.After(limit):
		t.Fatalf("the relay did not close the connection within %v", limit)
	}
}

// TestRevokeCutsAgentAtOnce is SECURITY.md item 8 for live connections: revoking a device
// closes its agent's WebSocket and its consoles at once, the agent's reconnect is refused,
// and the revocation is audited; on the embedded store and on PostgreSQL.
func TestRevokeCutsAgentAtOnce(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var adjust func(*Config)
			if backend == "postgres" {
				adjust = postgresConfig(t)
			}
			d := startDevRelay(t, adjust)
			dev, id := d.enrolled(t, "rack-1")
			other, otherID := d.enrolled(t, "rack-2")
			console := d.dialConsole(t, dev, "s_1")
			agentConn, err := d.dialAgent(t, id)
			require.NoError(t, err)
			waitAgentStatus(t, console, true)
			otherConsole := d.dialConsole(t, other, "s_2")
			otherConn, err := d.dialAgent(t, otherID)
			require.NoError(t, err)
			waitAgentStatus(t, otherConsole, true)

			start := time.Now()
			require.NoError(t, d.RevokeDevice(context.Background(), d.org, dev, "user:admin-1"))
			assert.Equal(t, wire.CodeUnauthorized, recvErrorCode(t, agentConn))
			waitClosedWithin(t, agentConn, time.Second)
			assert.Less(t, time.Since(start), time.Second, "cut at once, not at the next check")
			assert.Equal(t, wire.CodeSessionEnded, recvErrorCode(t, console))
			waitClosedWithin(t, console, time.Second)

			_, err = d.dialAgent(t, id)
			require.ErrorIs(t, err, sigclient.ErrRefused, "the revoked device cannot come back")
			assert.Contains(t, err.Error(), "HTTP 401")

			// The other device is untouched.
			require.NoError(t, otherConsole.Send(wire.TypeJoin, "s_2", wire.Join{Codecs: []string{"video/VP8"}}))
			for {
				e, err := recvWithin(t, otherConn)
				require.NoError(t, err)
				if e.Type == wire.TypeSessionStart {
					break
				}
			}

			recs := d.audit(t)
			last := recs[len(recs)-1]
			assert.Equal(t, store.AuditDeviceRevoke, last.Action)
			assert.Equal(t, "user:admin-1", last.Actor)
			assert.Equal(t, "device:"+dev, last.Target)
			require.NotNil(t, d.storedDevice(t, dev).RevokedAt)

			// Revoking again disconnects again but audits once.
			require.NoError(t, d.RevokeDevice(context.Background(), d.org, dev, "user:admin-1"))
			assert.Len(t, d.audit(t), len(recs))
			assert.ErrorIs(t, d.RevokeDevice(context.Background(), d.org, store.NewID(), "user:admin-1"), store.ErrNotFound)
		})
	}
}

// TestRevokeAcrossNodes: two relay nodes share PostgreSQL, Redis and the data directory's keys.
// An agent enrolled through node A, holding a challenge from node A, connects to node B;
// revoking the device on node A cuts it on node B at once, and node B refuses it after.
func TestRevokeAcrossNodes(t *testing.T) {
	rs := testenv.StartRedis(t)
	a := startDevRelay(t, func(c *Config) {
		postgresConfig(t)(c)
		c.RedisURL = rs.URL()
	})
	cfgB := a.cfg
	cfgB.Listen, cfgB.PublicURL = "127.0.0.1:0", a.URL() // one deployment, one public URL
	b := &devRelay{Relay: serveDevRelay(t, cfgB), org: a.org}

	dev, id := a.enrolled(t, "rack-1")
	h, err := enroll.ProofHeader(context.Background(), a.client(t, id), id, time.Now())
	require.NoError(t, err)
	conn, err := b.dialAgentWith(t, h, nil)
	require.NoError(t, err, "node B accepts a proof over node A's challenge")
	console := b.dialConsole(t, dev, "s_1")
	waitAgentStatus(t, console, true)

	start := time.Now()
	require.NoError(t, a.RevokeDevice(context.Background(), a.org, dev, "user:admin-1"))
	assert.Equal(t, wire.CodeUnauthorized, recvErrorCode(t, conn))
	waitClosedWithin(t, conn, time.Second)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, wire.CodeSessionEnded, recvErrorCode(t, console))

	_, err = b.dialAgent(t, id)
	require.ErrorIs(t, err, sigclient.ErrRefused)
}

// TestHeartbeatPresence: heartbeats set last seen, version and capabilities; hostile text is
// capped and stripped of control characters (kept otherwise: escaping is the renderer's);
// heartbeats faster than minBeatGap are dropped; an oversized message closes the agent and
// changes nothing (SECURITY.md item 12 at the source).
func TestHeartbeatPresence(t *testing.T) {
	d := startDevRelay(t, nil)
	dev, id := d.enrolled(t, "rack-1")
	conn, err := d.dialAgent(t, id)
	require.NoError(t, err)
	assert.False(t, device.Online(d.storedDevice(t, dev), time.Now()), "never seen: offline")

	many := make([]string, 100)
	for i := range many {
		many[i] = "1920x1080"
	}
	hostile := wire.Heartbeat{
		Version: "<script>alert(1)</script>\x1b[2J\x00\u202E" + strings.Repeat("v", 60<<10),
		Sources: []string{"<img src=x onerror=alert(1)>", "cam\r\n\u2028\u200b0"},
		Sizes:   many,
		Codecs:  []string{strings.Repeat("c", 1000)},
	}
	require.NoError(t, conn.Send(wire.TypeHeartbeat, "", hostile))
	require.Eventually(t, func() bool { return d.storedDevice(t, dev).LastSeen != nil }, 5*time.Second, 10*time.Millisecond)
	row := d.storedDevice(t, dev)
	assert.True(t, device.Online(row, time.Now()))
	assert.False(t, device.Online(row, row.LastSeen.Add(device.OfflineAfter+time.Second)), "offline after three missed beats")
	assert.True(t, strings.HasPrefix(row.AgentVersion, "<script>alert(1)</script>[2J"), row.AgentVersion)
	assert.LessOrEqual(t, len(row.AgentVersion), device.MaxVersionLen)
	caps, err := device.ParseCapabilities(row.Capabilities)
	require.NoError(t, err)
	assert.Equal(t, []string{"<img src=x onerror=alert(1)>", "cam0"}, caps.Sources)
	assert.Len(t, caps.Sizes, device.MaxItems)
	require.Len(t, caps.Codecs, 1)
	assert.Len(t, caps.Codecs[0], device.MaxItemLen)
	assert.NotContains(t, row.Capabilities, "\\u2028")

	// Too soon after the last one: dropped.
	require.NoError(t, conn.Send(wire.TypeHeartbeat, "", wire.Heartbeat{Version: "too-soon"}))
	time.Sleep(300 * time.Millisecond)
	assert.NotEqual(t, "too-soon", d.storedDevice(t, dev).AgentVersion)
	time.Sleep(minBeatGap)
	require.NoError(t, conn.Send(wire.TypeHeartbeat, "", wire.Heartbeat{Version: "2.0", Sources: []string{"hdmi"}}))
	require.Eventually(t, func() bool { return d.storedDevice(t, dev).AgentVersion == "2.0" }, 5*time.Second, 10*time.Millisecond)

	// One megabyte: over the signaling message limit, the connection is closed unread.
	huge := `{"v":1,"type":"heartbeat","data":{"version":"` + strings.Repeat("x", 1<<20) + `"}}`
	time.Sleep(minBeatGap)
	require.NoError(t, conn.SendRaw([]byte(huge)))
	waitClosedWithin(t, conn, 5*time.Second)
	assert.Equal(t, "2.0", d.storedDevice(t, dev).AgentVersion)
}
