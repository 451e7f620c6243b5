package turn

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestBandwidthCapDropsUDP: with the clock stopped the bucket never refills, so exactly its
// burst (minBurst bytes) reaches the peer and the rest is dropped and counted.
func TestBandwidthCapDropsUDP(t *testing.T) {
	echo := startUDPEcho(t)
	clock := &fakeClock{t: time.Now()}
	ts := startServer(t, func(c *Config) {
		c.AllowPeers = mustPrefixes([]string{"127.0.0.0/8"})
		c.MaxBitsPerSecond = 64_000 // 8 kB/s: burst is minBurst
		c.hooks.now = clock.now
	})
	u, p := ts.creds("alice", time.Minute)
	relay, err := newPionClient(t, ts, "udp", u, p).Allocate()
	require.NoError(t, err)
	defer relay.Close()

	const size, count = 1000, 40 // 40 kB offered, 16 KiB allowed
	payload := make([]byte, size)
	for range count {
		_, err := relay.WriteTo(payload, udpAddr(echo.addr()))
		require.NoError(t, err)
	}
	wantThrough := minBurst / size
	require.Eventually(t, func() bool {
		return counter(t, ts.metrics.throttled.WithLabelValues(transportUDP, dirToPeer)) == float64((count-wantThrough)*size)
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return echo.count() == wantThrough }, 5*time.Second, time.Millisecond)
	assert.Equal(t, float64(wantThrough), counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirToPeer)))

	// Time passing refills the bucket.
	clock.set(clock.now().Add(time.Second))
	_, err = relay.WriteTo(payload, udpAddr(echo.addr()))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return echo.count() == wantThrough+1 }, 5*time.Second, time.Millisecond)
}

func TestBandwidthUnit(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	b := newBandwidth(800_000, clock.now) // 100 kB/s, burst 50 kB
	assert.True(t, b.allow(true, 50_000))
	assert.False(t, b.allow(true, 1))
	assert.True(t, b.allow(false, 50_000), "directions are separate")
	clock.set(clock.now().Add(100 * time.Millisecond))
	assert.True(t, b.allow(true, 10_000))
	assert.False(t, b.allow(true, 1))

	unlimited := newBandwidth(0, clock.now)
	assert.True(t, unlimited.allow(true, 1<<30))
	delayed, err := unlimited.wait(t.Context(), true, 1<<30)
	require.NoError(t, err)
	assert.False(t, delayed)
}
