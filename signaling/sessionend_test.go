package signaling

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ended records the sessions OnSessionEnd was told of.
type ended struct {
	mu   sync.Mutex
	sids []string
}

func (e *ended) add(sid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sids = append(e.sids, sid)
}

func (e *ended) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.sids...)
}

// TestEndSessionEverywhere: a session ended on one node ends its console on another node
// sharing the bus at once, with the reason; the agent gets a bye; every node, holding the
// console or not, is told (OnSessionEnd: the relay ends its TURN allocations there); other
// sessions of the device stay.
func TestEndSessionEverywhere(t *testing.T) {
	bus := NewMemoryBus()
	t.Cleanup(func() { bus.Close() })
	reg := NewMemoryRegistry()
	var endedA, endedB ended
	a := startRelayWith(t, func(c *Config) { c.Bus, c.Registry, c.OnSessionEnd = bus, reg, endedA.add })
	b := startRelayWith(t, func(c *Config) { c.Bus, c.Registry, c.OnSessionEnd = bus, reg, endedB.add })

	agent, err := b.dial(t, "/ws/agent", b.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	console, err := b.dial(t, "/ws/console", b.consoleToken(t, "dev1", "s_1"), "")
	require.NoError(t, err)
	waitOnline(t, console)
	other, err := b.dial(t, "/ws/console", b.consoleToken(t, "dev1", "s_2"), "")
	require.NoError(t, err)
	waitOnline(t, other)

	here, err := a.srv.EndSessionEverywhere(context.Background(), "s_1", "your role (viewer) no longer allows consoles on rack12-node3")
	require.NoError(t, err)
	assert.False(t, here, "node A did not hold the console")

	m := recvError(t, console)
	assert.Equal(t, wire.CodeSessionEnded, m.Code)
	assert.Contains(t, m.Message, "your role (viewer) no longer allows consoles on rack12-node3", "the console is told why")
	waitClosed(t, console)
	bye := recvType(t, agent, wire.TypeBye)
	assert.Equal(t, "s_1", bye.SID, "the agent ends its side of the session")
	assert.Equal(t, []string{"s_1"}, endedA.list(), "the ending node ends the session's TURN")
	require.Eventually(t, func() bool { return len(endedB.list()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"s_1"}, endedB.list(), "and so does every other node")

	// The device's other console still reaches the agent.
	require.NoError(t, other.Send(wire.TypeJoin, "s_2", wire.Join{Codecs: []string{"video/VP8"}}))
	assert.Equal(t, "s_2", recvType(t, agent, wire.TypeSessionStart).SID)
}
