package relay

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
)

// TestConsoleOriginIsThePublicURL: the relay hands signaling its public URL (here the default,
// the bound address), so only that origin, scheme included, passes the Origin check (then the
// missing token is what refuses: 401); another scheme, or a foreign origin whose request names
// it in Host or X-Forwarded-Host, is refused before anything else (403).
func TestConsoleOriginIsThePublicURL(t *testing.T) {
	r := startRelay(t, false)
	hostPort := strings.TrimPrefix(r.URL(), "http://")
	cases := []struct {
		name, origin string
		header       http.Header
		status       string
	}{
		{"the public URL's origin", r.URL(), nil, "HTTP 401"},
		{"same host and port over https", "https://" + hostPort, nil, "HTTP 403"},
		{"another name, Host to match", "http://relay.localhost", http.Header{"Host": {"relay.localhost"}}, "HTTP 403"},
		{"evil origin, X-Forwarded-Host to match", "https://evil.example", http.Header{"X-Forwarded-Host": {"evil.example"}}, "HTTP 403"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: "ws://" + hostPort + "/ws/console", Origin: tc.origin, Header: tc.header})
			if c != nil {
				c.Close()
			}
			require.ErrorIs(t, err, sigclient.ErrRefused)
			assert.Contains(t, err.Error(), tc.status)
		})
	}
}
