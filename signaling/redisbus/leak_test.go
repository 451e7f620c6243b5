package redisbus

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestCloseLeavesNoGoroutines: Close stops the reader, every subscriber's watcher and the
// registry's refresh, whatever state they were in, Redis up or down.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	srv := testenv.StartRedis(t)
	before := goleak.IgnoreCurrent()
	for _, redisUp := range []bool{true, false} {
		bus, reg, err := New(context.Background(), testConfig(srv))
		require.NoError(t, err)
		ctx := context.Background()
		for _, topic := range []string{"agent/dev1", "agent/dev1", "console/s_1", "presence/dev1"} {
			_, err := bus.Subscribe(ctx, topic) // never cancelled: Close must end them
			require.NoError(t, err)
		}
		require.NoError(t, reg.PutSession(ctx, sessionInfo("s_1", "dev1")))
		require.NoError(t, reg.SetAgentOnline(ctx, "dev1", "a_1", true))
		if !redisUp {
			srv.Kill()
		}
		require.NoError(t, bus.Close())
		require.NoError(t, reg.Close())
		goleak.VerifyNone(t, before)
	}
}
