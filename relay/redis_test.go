package relay

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestRedisURLRefusedAtStart: a relay whose --redis-url is malformed or names a Redis that does
// not answer does not start, and says which flag to fix without printing the password.
func TestRedisURLRefusedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"not a redis URL", "http://:hunter2@127.0.0.1:6379/0", []string{"--redis-url", "scheme"}},
		{"bad database number", "redis://:hunter2@127.0.0.1:6379/x", []string{"--redis-url", "database"}},
		{"nothing listening", "redis://:hunter2@127.0.0.1:1/0", []string{"--redis-url", "127.0.0.1:1", "does not answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), RedisURL: tc.url, Logger: slog.New(slog.DiscardHandler)})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "hunter2", "the password stays out of errors")
		})
	}
}

// TestRelayOnRedis: with --redis-url the relay serves with the Redis bus, /healthz tells whether
// Redis answers, and a relay outlives a Redis outage (it reports it and recovers).
func TestRelayOnRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	r := serveRelay(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), RedisURL: rs.URL(), Logger: slog.New(slog.DiscardHandler)})
	health := func() map[string]string {
		resp, err := http.Get(r.URL() + "/healthz")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out map[string]string
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
			return nil
		}
		return out
	}
	assert.Equal(t, map[string]string{"status": "ok", "bus": "redis", "redis": "ok"}, health())

	rs.Kill()
	require.Eventually(t, func() bool { return health()["redis"] == "unreachable" }, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, "ok", health()["status"], "a Redis outage does not fail the liveness check")
	rs.Start(t)
	require.Eventually(t, func() bool { return health()["redis"] == "ok" }, 10*time.Second, 100*time.Millisecond)
}

func TestHealthWithoutRedis(t *testing.T) {
	r := startRelay(t, false)
	resp, err := http.Get(r.URL() + "/healthz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	assert.Equal(t, map[string]string{"status": "ok", "bus": "memory"}, out)
}
