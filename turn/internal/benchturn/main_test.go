package main

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/turn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLoopbackOnly: the benchmark server's policy allows loopback and nothing else, in any
// spelling.
func TestLoopbackOnly(t *testing.T) {
	cfg, err := config("127.0.0.1:0", "0123456789abcdef0123", "r", "40000-40100", 2)
	require.NoError(t, err)
	p := turn.NewPeerPolicy(cfg.AllowPeers, cfg.DenyPeers)
	for _, s := range []string{"127.0.0.1", "127.255.255.254", "::ffff:127.0.0.1"} {
		ok, why := p.Allowed(netip.MustParseAddr(s))
		assert.True(t, ok, "%s: %s", s, why)
	}
	for _, s := range []string{"0.0.0.0", "8.8.8.8", "126.255.255.255", "128.0.0.0", "255.255.255.255",
		"10.0.0.1", "2001:4860:4860::8888", "::1", "64:ff9b::808:808", "2002:808:808::", "::8.8.8.8"} {
		ok, _ := p.Allowed(netip.MustParseAddr(s))
		assert.False(t, ok, s)
	}
	assert.Equal(t, uint16(40000), cfg.RelayPortMin)
	assert.Equal(t, uint16(40100), cfg.RelayPortMax)
}

func TestConfigRefusesNonLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:3478", ":3478", "192.0.2.1:3478", "localhost:3478"} {
		_, err := config(listen, "0123456789abcdef0123", "r", "", 0)
		assert.Error(t, err, listen)
	}
	_, err := config("127.0.0.1:3478", "short", "r", "", 0)
	assert.Error(t, err)
	_, err = config("127.0.0.1:3478", "0123456789abcdef0123", "r", "100", 0)
	assert.Error(t, err)
}
