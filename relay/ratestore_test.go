package relay

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRateStoreKeepsItsKeys: the limiter's key is a string over a buffer fasthttp reuses for
// the next request; the store keeps its own copy, so a client's count survives that reuse
// (before, a guest's first join went uncounted once the next request overwrote the buffer).
func TestRateStoreKeepsItsKeys(t *testing.T) {
	s := newRateStore()
	buf := []byte("192.0.2.7")
	key := unsafe.String(&buf[0], len(buf)) // as fiber's c.IP() hands it out
	require.NoError(t, s.Set(key, []byte{1}, 0))
	copy(buf, "203.0.113")
	got, err := s.Get("192.0.2.7")
	require.NoError(t, err)
	assert.Equal(t, []byte{1}, got)
}
