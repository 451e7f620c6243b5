package turn

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestICEServers(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.PublicIP = netip.MustParseAddr("127.0.0.1") })
	port := strconv.Itoa(int(ts.port))
	servers := ts.ICEServers("session-7", 10*time.Minute)
	require.Len(t, servers, 2)
	assert.Equal(t, []string{"stun:127.0.0.1:" + port}, servers[0].URLs)
	assert.Empty(t, servers[0].Username)
	assert.Equal(t, []string{
		"turn:127.0.0.1:" + port + "?transport=udp",
		"turn:127.0.0.1:" + port + "?transport=tcp",
	}, servers[1].URLs)

	user, err := VerifyCredentials([][]byte{testSecret}, servers[1].Username, servers[1].Credential, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "session-7", user)
	exp, _, err := parseUsername(servers[1].Username)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(10*time.Minute), exp, 2*time.Second)

	b, err := json.Marshal(servers)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), `[{"urls":["stun:`), string(b))

	// The credentials work for a real allocation.
	relay, err := newPionClient(t, ts, "udp", servers[1].Username, servers[1].Credential).Allocate()
	require.NoError(t, err)
	require.NoError(t, relay.Close())

	assert.Len(t, ts.ICEServers("", time.Minute), 1, "no TURN entry without a user")
	exp, _, err = parseUsername(ts.ICEServers("x", 0)[1].Username)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(DefaultCredentialTTL), exp, 2*time.Second)
}

func TestICEServersIPv6(t *testing.T) {
	s := &Server{cfg: Config{PublicIP: netip.MustParseAddr("2001:db8::1"), Secrets: [][]byte{testSecret}},
		port: 3478, now: time.Now, tcp: &guardListener{}}
	servers := s.ICEServers("u", time.Minute)
	assert.Equal(t, "stun:[2001:db8::1]:3478", servers[0].URLs[0])
	assert.Equal(t, "turn:[2001:db8::1]:3478?transport=tcp", servers[1].URLs[1])
}
