package redisbus

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

func sessionInfo(sid, device string) signaling.SessionInfo {
	return signaling.SessionInfo{SID: sid, Device: device, Tenant: "t1", Principal: "alice", Started: time.Now().Round(0)}
}

// TestRegistrySessionFields: every field of a session survives the trip through Redis — a
// gateway's session names its gateway (the agent that carries it), and shared sessions need
// the grant and the name the participants see.
func TestRegistrySessionFields(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	a, b := newRegistry(t, testConfig(srv)), newRegistry(t, testConfig(srv))
	want := signaling.SessionInfo{SID: "s_amt", Device: "amt1", Agent: "gw1", Target: "12345678-9abc-def0-1234-56789abcdef0",
		Tenant: "t1", Principal: "user:ann", Grant: wire.GrantView, Name: "ann@acme.example", Started: time.Now().UTC().Round(0)}
	require.NoError(t, a.PutSession(ctx, want))
	got, err := b.Session(ctx, "s_amt")
	require.NoError(t, err)
	assert.True(t, want.Started.Equal(got.Started))
	got.Started = want.Started
	assert.Equal(t, want, got)
	assert.Equal(t, "gw1", got.AgentDevice())
}

// TestRegistrySessions: a session one node writes, another reads; only its writer deletes it.
func TestRegistrySessions(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	a, b := newRegistry(t, testConfig(srv)), newRegistry(t, testConfig(srv))

	_, err := b.Session(ctx, "s_1")
	require.ErrorIs(t, err, signaling.ErrUnknownSession)

	want := sessionInfo("s_1", "dev1")
	require.NoError(t, a.PutSession(ctx, want))
	got, err := b.Session(ctx, "s_1")
	require.NoError(t, err)
	assert.Equal(t, want.SID, got.SID)
	assert.Equal(t, want.Device, got.Device)
	assert.Equal(t, want.Tenant, got.Tenant)
	assert.Equal(t, want.Principal, got.Principal)
	assert.True(t, want.Started.Equal(got.Started))

	// The console reconnected through b: a's late cleanup leaves b's record alone.
	require.NoError(t, b.PutSession(ctx, want))
	require.NoError(t, a.DeleteSession(ctx, "s_1"))
	_, err = a.Session(ctx, "s_1")
	require.NoError(t, err)
	require.NoError(t, b.DeleteSession(ctx, "s_1"))
	_, err = a.Session(ctx, "s_1")
	require.ErrorIs(t, err, signaling.ErrUnknownSession)
}

// TestAgentPresenceCompareAndDelete: a stale disconnect, from any node, does not clear a newer
// connection's presence.
func TestAgentPresenceCompareAndDelete(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	a, b := newRegistry(t, testConfig(srv)), newRegistry(t, testConfig(srv))

	online := func() bool {
		ok, err := b.AgentOnline(ctx, "dev1")
		require.NoError(t, err)
		return ok
	}
	assert.False(t, online())
	require.NoError(t, a.SetAgentOnline(ctx, "dev1", "a_old", true))
	assert.True(t, online())
	require.NoError(t, b.SetAgentOnline(ctx, "dev1", "a_new", true)) // the agent reconnected via b
	require.NoError(t, a.SetAgentOnline(ctx, "dev1", "a_old", false))
	assert.True(t, online(), "the stale disconnect left the new connection online")
	require.NoError(t, b.SetAgentOnline(ctx, "dev1", "a_new", false))
	assert.False(t, online())
}

// TestRegistryTTL: records live while their node refreshes them and expire within TTL after
// it stops; Refresh rewrites what a restarted (empty) Redis lost.
func TestRegistryTTL(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	cfg := testConfig(srv)
	reader := newRegistry(t, cfg)
	writer, err := NewRegistry(cfg)
	require.NoError(t, err)
	defer writer.Close() // closed again below: Close is idempotent

	require.NoError(t, writer.PutSession(ctx, sessionInfo("s_1", "dev1")))
	require.NoError(t, writer.SetAgentOnline(ctx, "dev1", "a_1", true))
	time.Sleep(3 * cfg.TTL) // refreshed every TTL/3 meanwhile
	_, err = reader.Session(ctx, "s_1")
	require.NoError(t, err, "a refreshed session outlives its TTL")
	ok, err := reader.AgentOnline(ctx, "dev1")
	require.NoError(t, err)
	require.True(t, ok, "refreshed presence outlives its TTL")

	srv.Restart(t) // nothing persisted: Redis comes back empty (the writer's own refresh may
	// already have rewritten it by now; Refresh makes sure).
	require.NoError(t, writer.Refresh(ctx))
	_, err = reader.Session(ctx, "s_1")
	require.NoError(t, err, "Refresh rewrote the lost session")
	ok, err = reader.AgentOnline(ctx, "dev1")
	require.NoError(t, err)
	require.True(t, ok, "Refresh rewrote the lost presence")

	// The writer's node dies (its refresh stops): its records expire within TTL.
	require.NoError(t, writer.Close())
	require.Eventually(t, func() bool {
		_, err := reader.Session(ctx, "s_1")
		ok, _ := reader.AgentOnline(ctx, "dev1")
		return err != nil && !ok
	}, 3*cfg.TTL, 20*time.Millisecond)
	_, err = reader.Session(ctx, "s_1")
	require.ErrorIs(t, err, signaling.ErrUnknownSession)
}

// TestRefreshDoesNotResurrect: a deleted session or an agent gone offline is not rewritten by
// the refresh, nor is another connection's presence overwritten.
func TestRefreshDoesNotResurrect(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	a, b := newRegistry(t, testConfig(srv)), newRegistry(t, testConfig(srv))
	require.NoError(t, a.PutSession(ctx, sessionInfo("s_1", "dev1")))
	require.NoError(t, a.SetAgentOnline(ctx, "dev1", "a_1", true))
	require.NoError(t, a.DeleteSession(ctx, "s_1"))
	require.NoError(t, a.SetAgentOnline(ctx, "dev1", "a_1", false))
	require.NoError(t, a.Refresh(ctx))
	_, err := b.Session(ctx, "s_1")
	require.ErrorIs(t, err, signaling.ErrUnknownSession)
	ok, err := b.AgentOnline(ctx, "dev1")
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, a.SetAgentOnline(ctx, "dev2", "a_old", true))
	require.NoError(t, b.SetAgentOnline(ctx, "dev2", "a_new", true))
	require.NoError(t, a.Refresh(ctx))
	cur, err := b.client.Get(ctx, b.agentKey("dev2")).Result()
	require.NoError(t, err)
	assert.Equal(t, "a_new", cur)
}
