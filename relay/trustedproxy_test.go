package relay

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// redeemFrom posts a (bad) console link with the given X-Forwarded-For and returns the status.
func redeemFrom(t *testing.T, r *Relay, xff string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL()+"/api/v1/console/redeem", strings.NewReader(`{"code":"garbage"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTrustedProxiesRateLimits: the per-address limit on redeeming console links counts the
// client X-Forwarded-For names only when the connection comes from a trusted proxy; a client
// connecting directly cannot spread its attempts over made-up addresses.
func TestTrustedProxiesRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		// rotating is whether a fresh X-Forwarded-For address gets a fresh limit.
		rotating bool
	}{
		{"direct clients: spoofed header ignored", nil, false},
		{"other proxies trusted: header from loopback ignored", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false},
		{"behind a trusted proxy: each client has its own limit", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := serveRelay(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), RedeemPerMinute: 2, TrustedProxies: tc.trusted,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			assert.Equal(t, http.StatusUnauthorized, redeemFrom(t, r, "198.51.100.1"))
			assert.Equal(t, http.StatusUnauthorized, redeemFrom(t, r, "6.6.6.6, 198.51.100.1"))
			assert.Equal(t, http.StatusTooManyRequests, redeemFrom(t, r, "7.7.7.7, 198.51.100.1"),
				"the same client: what it wrote left of its address changes nothing")
			want := http.StatusTooManyRequests
			if tc.rotating {
				want = http.StatusUnauthorized
			}
			assert.Equal(t, want, redeemFrom(t, r, "198.51.100.2"), "another client address")
		})
	}
}

// TestTrustedProxiesAudit: a failed login through a trusted proxy is audited with the client's
// address from X-Forwarded-For; a direct client's header is ignored.
func TestTrustedProxiesAudit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"direct", nil, "127.0.0.1"},
		{"through a trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "198.51.100.23"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), TrustedProxies: tc.trusted, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx := context.Background()
			org, _, err := CreateOwner(ctx, cfg, "Acme", "acme", "owner@acme.test", "correct horse battery")
			require.NoError(t, err)
			r := serveRelay(t, cfg)

			req, err := http.NewRequest(http.MethodPost, r.URL()+"/api/v1/auth/login",
				strings.NewReader(`{"org":"acme","email":"owner@acme.test","password":"wrong password here"}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.23")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

			var addrs []string
			require.NoError(t, r.Store().Read(ctx, org.ID, func(tx store.Tx) error {
				entries, err := tx.Audit(ctx, 0, 100)
				for _, e := range entries {
					if e.Record.Action == store.AuditLoginFailed {
						addrs = append(addrs, e.Record.Details["addr"])
					}
				}
				return err
			}))
			assert.Equal(t, []string{tc.want}, addrs)
		})
	}
}
