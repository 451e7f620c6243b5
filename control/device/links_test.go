package device

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGatewayLinks(t *testing.T) {
	g := NewGatewayLinks()
	assert.Empty(t, g.Up("gw1"))
	g.Apply("gw1", "a_1", true, []string{"m1", "m2"}, nil)
	g.Apply("gw1", "a_1", false, []string{"m3"}, nil) // the rest of the full list
	assert.Equal(t, []string{"m1", "m2", "m3"}, g.Up("gw1"))
	g.Apply("gw1", "a_1", false, []string{"m4"}, []string{"m1"})
	assert.Equal(t, []string{"m2", "m3", "m4"}, g.Up("gw1"))
	g.Apply("gw2", "a_2", true, []string{"m9"}, nil)
	assert.Equal(t, []string{"m9"}, g.Up("gw2"), "gateways do not mix")

	// A reconnection overlapping the old one: both count until the old one is gone.
	g.Apply("gw1", "a_3", true, []string{"m2", "m5"}, nil)
	assert.Equal(t, []string{"m2", "m3", "m4", "m5"}, g.Up("gw1"))
	g.Gone("a_1")
	assert.Equal(t, []string{"m2", "m5"}, g.Up("gw1"))
	g.Apply("gw1", "a_3", true, nil, nil)
	assert.Empty(t, g.Up("gw1"), "a new full list replaces the old")
	g.Gone("a_3")
	g.Gone("a_unknown")
	assert.Equal(t, []string{"m9"}, g.Up("gw2"))
}
