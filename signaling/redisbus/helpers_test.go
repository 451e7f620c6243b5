package redisbus

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// testConfig is a Config for srv with timings short enough for tests.
func testConfig(srv *testenv.Redis) Config {
	return Config{
		URL:            srv.URL(),
		KeyPrefix:      "test:",
		OpTimeout:      2 * time.Second,
		HealthInterval: 300 * time.Millisecond,
		TTL:            600 * time.Millisecond,
		Logger:         testLogger(),
	}
}

func newBus(t *testing.T, cfg Config) *Bus {
	t.Helper()
	b, err := NewBus(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func newRegistry(t *testing.T, cfg Config) *Registry {
	t.Helper()
	r, err := NewRegistry(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

func subscribe(t *testing.T, b *Bus, topic string) (<-chan []byte, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := b.Subscribe(ctx, topic)
	require.NoError(t, err)
	return ch, cancel
}

func publish(t *testing.T, b *Bus, topic, msg string) {
	t.Helper()
	require.NoError(t, b.Publish(context.Background(), topic, []byte(msg)))
}

// next returns the next message on ch, failing after a few seconds.
func next(t *testing.T, ch <-chan []byte) string {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "subscription closed")
		return string(m)
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return ""
	}
}

// closedWithin waits for ch to close, discarding messages, and returns how many it drained.
func closedWithin(t *testing.T, ch <-chan []byte, d time.Duration) int {
	t.Helper()
	timeout := time.After(d)
	n := 0
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
			n++
		case <-timeout:
			t.Fatalf("subscription still open after %s", d)
			return n
		}
	}
}

// numSub is how many Redis subscriptions channel has, over all nodes.
func numSub(t *testing.T, b *Bus, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := b.client.PubSubNumSub(ctx, b.channel(topic)).Result()
	require.NoError(t, err)
	return m[b.channel(topic)]
}

// testLogger discards logs unless KVMRELAY_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("KVMRELAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
