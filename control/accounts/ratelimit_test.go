package accounts

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyedLimiter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newKeyedLimiter(Limit{Every: 10 * time.Second, Burst: 3}, 100)
	for i := range 3 {
		_, ok := l.allow("a", now)
		require.True(t, ok, "attempt %d within the burst", i+1)
	}
	d, ok := l.allow("a", now)
	assert.False(t, ok)
	assert.InDelta(t, 10*time.Second, d, float64(time.Millisecond))
	_, ok = l.allow("b", now)
	assert.True(t, ok, "another key has its own bucket")

	d, ok = l.allow("a", now.Add(5*time.Second))
	assert.False(t, ok)
	assert.InDelta(t, 5*time.Second, d, float64(time.Millisecond), "a refused attempt costs nothing")
	_, ok = l.allow("a", now.Add(10*time.Second))
	assert.True(t, ok)
}

func TestKeyedLimiterBoundedMemory(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newKeyedLimiter(Limit{Every: time.Minute, Burst: 1}, 3)
	for i := range 100 {
		l.allow(fmt.Sprint("k", i), now)
	}
	assert.Equal(t, 3, l.len())
	// The most recent keys are kept, still limited.
	_, ok := l.allow("k99", now)
	assert.False(t, ok)
	// k0 was evicted: it starts over.
	_, ok = l.allow("k0", now)
	assert.True(t, ok)
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"192.0.2.1:1234", "192.0.2.1:5678"},
		{"192.0.2.1", "192.0.2.1:80"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1:2"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2"},
		{"[fe80::1%eth0]:1", "[fe80::2]:1"},
	} {
		assert.Equal(t, addrKey(tc.a), addrKey(tc.b), "%s ~ %s", tc.a, tc.b)
	}
	for _, tc := range []struct{ a, b string }{
		{"192.0.2.1:1", "192.0.2.2:1"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1"},
		{"", "192.0.2.1"},
	} {
		assert.NotEqual(t, addrKey(tc.a), addrKey(tc.b), "%s vs %s", tc.a, tc.b)
	}
	assert.LessOrEqual(t, len(addrKey(string(make([]byte, 10000)))), 100)
}
