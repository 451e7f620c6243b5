package device

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGatewayLinks(t *testing.T) {
	g := NewGatewayLinks()
	assert.Empty(t, g.Up("gw1"))
	assert.False(t, g.Apply("gw1", "a_1", true, true, []string{"m1", "m2"}, nil), "a full list begun")
	assert.True(t, g.Apply("gw1", "a_1", false, false, []string{"m3"}, nil), "its last part completes it")
	assert.Equal(t, []string{"m1", "m2", "m3"}, g.Up("gw1"))
	assert.False(t, g.Apply("gw1", "a_1", false, false, []string{"m4"}, []string{"m1"}), "a change completes nothing")
	assert.Equal(t, []string{"m2", "m3", "m4"}, g.Up("gw1"))
	assert.True(t, g.Apply("gw2", "a_2", true, false, []string{"m9"}, nil), "a full list in one part")
	assert.Equal(t, []string{"m9"}, g.Up("gw2"), "gateways do not mix")
	assert.Equal(t, []string{"m1", "m7"}, g.Unlisted("gw1", []string{"m1", "m2", "m7"}), "stored up, not reported")

	// A reconnection overlapping the old one: both count until the old one is gone.
	g.Apply("gw1", "a_3", true, false, []string{"m2", "m5"}, nil)
	assert.Equal(t, []string{"m2", "m3", "m4", "m5"}, g.Up("gw1"))
	g.Gone("a_1")
	assert.Equal(t, []string{"m2", "m5"}, g.Up("gw1"))
	g.Apply("gw1", "a_3", true, false, nil, nil)
	assert.Empty(t, g.Up("gw1"), "a new full list replaces the old")
	g.Gone("a_3")
	g.Gone("a_unknown")
	assert.Equal(t, []string{"m9"}, g.Up("gw2"))
}
