package signaling

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOriginPolicy: the relay's own origin is its public URL's, scheme included, plus the
// allowed origins; the request's Host and X-Forwarded-Host, which the client chooses, never
// make a foreign page "own" (SECURITY.md item 2).
func TestOriginPolicy(t *testing.T) {
	r := startRelayWith(t, func(c *Config) { c.AllowedOrigins = []string{"https://Console.Example.com/"} })
	own := r.origin()
	hostPort := strings.TrimPrefix(own, "http://")
	console := r.consoleToken(t, "dev1", "s_1")
	cases := []struct {
		name, origin string
		header       http.Header
		ok           bool
	}{
		{"own origin", own, nil, true},
		{"own origin, other spelling", "HTTP://" + strings.ToUpper(hostPort), nil, true},
		{"no origin (not a browser)", "", nil, true},
		{"allowed origin", "https://console.example.com", nil, true},
		{"allowed origin with its default port", "https://console.example.com:443", nil, true},
		{"evil origin", "https://evil.example", nil, false},
		{"right host, wrong scheme", "https://" + hostPort, nil, false},
		{"allowed host, wrong scheme", "http://console.example.com", nil, false},
		{"allowed host, other port", "https://console.example.com:8443", nil, false},
		{"evil origin, spoofed X-Forwarded-Host", "https://evil.example", http.Header{"X-Forwarded-Host": {"evil.example"}}, false},
		{"evil origin, spoofed X-Forwarded-Host and proto", "http://evil.example",
			http.Header{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"http"}}, false},
		{"evil origin, Host rewritten to match", "http://evil.example", http.Header{"Host": {"evil.example"}}, false},
		{"origin with a path", own + "/console", nil, false},
		{"null origin", "null", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: r.url + "/ws/console", Token: console, Origin: tc.origin, Header: tc.header})
			if tc.ok {
				require.NoError(t, err)
				c.Close()
				return
			}
			require.ErrorIs(t, err, sigclient.ErrRefused)
			assert.Contains(t, err.Error(), "HTTP 403")
		})
	}
}

func TestOriginConfig(t *testing.T) {
	for _, bad := range []string{"console.example.com", "ftp://x.example", "https://user@x.example", "https://x.example/path", "*"} {
		_, err := newOrigins("https://relay.example", []string{bad})
		assert.Error(t, err, bad)
	}
	_, err := newOrigins("relay.example", nil)
	assert.Error(t, err)
	set, err := newOrigins("https://Relay.Example:443/kvm/", []string{"http://[::1]:8080"})
	require.NoError(t, err)
	assert.Equal(t, origins{"https://relay.example": true, "http://[::1]:8080": true}, set)
	assert.False(t, origins{}.allows("https://relay.example"), "nothing configured: no browser origin")
}
