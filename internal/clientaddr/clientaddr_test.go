package clientaddr

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestResolve(t *testing.T) {
	r := New(prefixes(t, "10.0.0.0/8", "192.0.2.5/32", "2001:db8:ffff::/48"))
	for _, tc := range []struct {
		name      string
		peer      string
		forwarded []string
		want      string
	}{
		{"untrusted peer: header ignored", "203.0.113.7", []string{"198.51.100.1"}, "203.0.113.7"},
		{"untrusted peer spoofing a trusted hop", "203.0.113.7", []string{"198.51.100.1, 10.0.0.1"}, "203.0.113.7"},
		{"trusted peer, no header", "10.1.2.3", nil, "10.1.2.3"},
		{"one proxy", "10.1.2.3", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client's own entries left of the real address are not read", "10.1.2.3", []string{"1.1.1.1, 8.8.8.8, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops skipped", "10.1.2.3", []string{"6.6.6.6, 198.51.100.1, 192.0.2.5, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines walk as one list", "10.1.2.3", []string{"6.6.6.6, 198.51.100.1", "192.0.2.5", "10.9.9.9"}, "198.51.100.1"},
		{"untrusted hop in the middle stops the walk", "10.1.2.3", []string{"198.51.100.1, 203.0.113.50, 10.9.9.9"}, "203.0.113.50"},
		{"garbage after trusted hops: last trusted hop", "10.1.2.3", []string{"not-an-ip, 192.0.2.5"}, "192.0.2.5"},
		{"garbage left of the client is never reached", "10.1.2.3", []string{"not-an-ip, 198.51.100.1"}, "198.51.100.1"},
		{"all trusted: the leftmost", "10.1.2.3", []string{"10.5.5.5, 192.0.2.5"}, "10.5.5.5"},
		{"ports and brackets", "10.1.2.3", []string{"[2001:db8::7]:4711, 192.0.2.5:443"}, "2001:db8::7"},
		{"IPv6 proxy", "2001:db8:ffff::1", []string{"2001:db8:1::9"}, "2001:db8:1::9"},
		{"4-in-6 peer", "::ffff:10.1.2.3", []string{"198.51.100.1"}, "198.51.100.1"},
		{"empty entries skipped", "10.1.2.3", []string{"198.51.100.1,, "}, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Resolve(netip.MustParseAddr(tc.peer), tc.forwarded)
			assert.Equal(t, tc.want, got.String())
		})
	}
	t.Run("no trusted proxies", func(t *testing.T) {
		assert.Equal(t, "10.1.2.3", Resolver{}.Resolve(netip.MustParseAddr("10.1.2.3"), []string{"198.51.100.1"}).String())
	})
}

// serve runs an app configured as the relay's (ProxyHeader: Header, the middleware first) on
// loopback; its one route answers with c.IP().
func serve(t *testing.T, trusted ...string) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ProxyHeader: Header})
	app.Use(New(prefixes(t, trusted...)).Middleware())
	app.Get("/ip", func(c *fiber.Ctx) error { return c.SendString(c.IP()) })
	app.Get("/proto", func(c *fiber.Ctx) error { return c.SendString(c.Protocol() + " " + c.Hostname()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = app.Listener(ln) }()
	t.Cleanup(func() { require.NoError(t, app.Shutdown()); <-done })
	return "http://" + ln.Addr().String() + "/ip"
}

func get(t *testing.T, url string, header http.Header) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestMiddlewareSetsCtxIP(t *testing.T) {
	spoof := http.Header{
		"X-Forwarded-For":        {"198.51.100.1, 10.0.0.1"},
		"X-Kvmrelay-Client-Addr": {"198.51.100.99"},
	}
	t.Run("untrusted connection: spoofed headers ignored", func(t *testing.T) {
		url := serve(t, "10.0.0.0/8")
		assert.Equal(t, "127.0.0.1", get(t, url, spoof))
	})
	t.Run("no proxies configured", func(t *testing.T) {
		url := serve(t)
		assert.Equal(t, "127.0.0.1", get(t, url, spoof))
	})
	t.Run("trusted proxy: walked from the right", func(t *testing.T) {
		url := serve(t, "127.0.0.1/32", "10.0.0.0/8")
		assert.Equal(t, "198.51.100.1", get(t, url, spoof))
		assert.Equal(t, "127.0.0.1", get(t, url, http.Header{"X-Kvmrelay-Client-Addr": {"198.51.100.99"}}),
			"the internal header from a client is overwritten")
	})
}

// The scheme and host a client claims (X-Forwarded-Proto, -Host…) are believed only from a
// trusted proxy: fiber's c.Protocol() decides the cookies' Secure flag.
func TestMiddlewareSchemeOnlyFromTrustedProxies(t *testing.T) {
	claim := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Ssl": {"on"}}
	untrusted := strings.TrimSuffix(serve(t, "10.0.0.0/8"), "/ip") + "/proto"
	got := get(t, untrusted, claim)
	assert.True(t, strings.HasPrefix(got, "http 127.0.0.1:"), "a client's claims are dropped: %q", got)
	trusted := strings.TrimSuffix(serve(t, "127.0.0.1/32"), "/ip") + "/proto"
	assert.Equal(t, "https evil.example", get(t, trusted, claim), "a trusted proxy says how the client connected")
}
