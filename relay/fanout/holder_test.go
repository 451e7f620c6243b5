package fanout

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHolderAndHolding: both nodes name the same holder of a machine; only the holder says it
// holds it, the node receiving it over a node link does not; when the holder stops, the other
// node holds it, and an earlier hold does not linger in Holding.
func TestHolderAndHolding(t *testing.T) {
	w := startWorld(t)
	a, b := startRelayNode(t, w), startRelayNode(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := Machine{Device: "dev1", Agent: "dev1"} // Agent == Device: the device's own agent

	for _, n := range []*relayNode{a, b} {
		holder, err := n.hub.Holder(ctx, m)
		require.NoError(t, err)
		assert.Empty(t, holder, "nobody holds the machine yet")
		assert.False(t, n.hub.Holding(m))
	}
	_, releaseA, err := a.hub.Acquire(ctx, m)
	require.NoError(t, err)
	defer releaseA()
	_, releaseB, err := b.hub.Acquire(ctx, m)
	require.NoError(t, err)
	defer releaseB()
	for _, n := range []*relayNode{a, b} {
		holder, err := n.hub.Holder(ctx, m)
		require.NoError(t, err)
		assert.Equal(t, a.hub.Node(), holder)
	}
	assert.True(t, a.hub.Holding(m), "the first node holds the machine")
	assert.False(t, b.hub.Holding(m), "the other receives it over a node link")

	a.close()
	require.Eventually(t, func() bool { return b.hub.Holding(m) }, 10*time.Second, 10*time.Millisecond, "the other node takes it over")
	holder, err := b.hub.Holder(ctx, m)
	require.NoError(t, err)
	assert.Equal(t, b.hub.Node(), holder)
}
