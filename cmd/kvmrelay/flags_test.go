package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/turn"
)

// fakeDNS answers from a table; other names fail.
type fakeDNS map[string][]netip.Addr

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// testDNS is the DNS of the flag tests.
func testDNS() fakeDNS {
	return fakeDNS{
		"db1.internal":   {netip.MustParseAddr("10.0.0.7")},
		"db2.internal":   {netip.MustParseAddr("10.0.0.8"), netip.MustParseAddr("fd00::8")},
		"redis.internal": {netip.MustParseAddr("10.0.0.9")},
		"localhost":      {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
	}
}

// TestServicePeers: --database-url and --redis-url → the addresses TURN refuses as peers.
func TestServicePeers(t *testing.T) {
	for _, tc := range []struct {
		name, db, redis string
		want            []string // service=addr
		wantErr         []string // substrings of the error
	}{
		{name: "neither", want: nil},
		{name: "postgres URL, literal IPv4", db: "postgres://kvmrelay:pw@192.0.2.10:5432/kvmrelay?sslmode=require", want: []string{"database=192.0.2.10"}},
		{name: "postgres URL, literal IPv6", db: "postgresql://kvmrelay:pw@[2001:db8::5]:5432/kvmrelay", want: []string{"database=2001:db8::5"}},
		{name: "postgres URL, name", db: "postgres://kvmrelay@db1.internal/kvmrelay", want: []string{"database=10.0.0.7"}},
		{name: "postgres multi-host", db: "postgres://kvmrelay@db1.internal:5432,db2.internal:5433/kvmrelay", want: []string{"database=10.0.0.7", "database=10.0.0.8", "database=fd00::8"}},
		{name: "postgres keyword form", db: "host=db2.internal port=5432 user=kvmrelay dbname=kvmrelay", want: []string{"database=10.0.0.8", "database=fd00::8"}},
		{name: "postgres unix socket", db: "postgres:///kvmrelay?host=/var/run/postgresql", want: nil},
		{name: "postgres sslmode=prefer lists each host once", db: "postgres://kvmrelay@192.0.2.10/kvmrelay?sslmode=prefer", want: []string{"database=192.0.2.10"}},
		{name: "redis literal", redis: "redis://:pw@10.0.0.9:6379/0", want: []string{"redis=10.0.0.9"}},
		{name: "rediss name", redis: "rediss://redis.internal:6380", want: []string{"redis=10.0.0.9"}},
		{name: "redis localhost", redis: "redis://localhost:6379", want: []string{"redis=127.0.0.1", "redis=::1"}},
		{name: "redis unix socket", redis: "unix:///run/redis/redis.sock", want: nil},
		{name: "both", db: "postgres://u@db1.internal/x", redis: "redis://redis.internal", want: []string{"database=10.0.0.7", "redis=10.0.0.9"}},
		{name: "bad redis URL", redis: "http://:hunter2@10.0.0.9", wantErr: []string{"--redis-url", "scheme"}},
		{name: "unresolvable database host", db: "postgres://u:hunter2@nowhere.internal/x", wantErr: []string{"--database-url", "nowhere.internal"}},
		{name: "unresolvable redis host", redis: "redis://:hunter2@nowhere.internal", wantErr: []string{"--redis-url", "nowhere.internal"}},
		{name: "bad database URL", db: "postgres://u:hunter2@db1.internal:notaport/x", wantErr: []string{"--database-url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := servicePeers(context.Background(), testDNS(), tc.db, tc.redis)
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				assert.NotContains(t, err.Error(), "hunter2", "no password in errors")
				return
			}
			require.NoError(t, err)
			var names []string
			for _, p := range got {
				names = append(names, p.Service+"="+p.Addr.String())
			}
			assert.Equal(t, tc.want, names)
		})
	}
}

// TestTURNConfigRefusesServices: serve's flags put the database and Redis hosts in the TURN
// server's ServicePeers, keep --turn-allow-peers as given (an exact entry there is the
// operator's override) and never let the command's own extra allows (the demo's local
// addresses) open a service host.
func TestTURNConfigRefusesServices(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	require.NoError(t, fs.Parse([]string{
		"--data-dir", t.TempDir(), "--turn-listen", "127.0.0.1:0", "--turn-secret", "0123456789abcdef0123",
		"--turn-allow-peers", "10.0.0.0/8,10.0.0.9",
		"--database-url", "postgres://kvmrelay@db1.internal/kvmrelay",
		"--redis-url", "redis://redis.internal:6379/0",
	}))
	f.resolver = testDNS()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	local := []netip.Prefix{netip.MustParsePrefix("10.0.0.7/32"), netip.MustParsePrefix("198.18.0.1/32")}
	cfg, err := f.relayConfig(log, local)
	require.NoError(t, err)
	require.NotNil(t, cfg.TURN)
	assert.Equal(t, "redis://redis.internal:6379/0", cfg.RedisURL)
	assert.Equal(t, []turn.ServicePeer{
		{Service: "database", Host: "db1.internal", Addr: netip.MustParseAddr("10.0.0.7")},
		{Service: "redis", Host: "redis.internal", Addr: netip.MustParseAddr("10.0.0.9")},
	}, cfg.TURN.ServicePeers)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.9/32"), // as given
		netip.MustParsePrefix("198.18.0.1/32"), // the demo's address that is no service host
	}, cfg.TURN.AllowPeers)

	policy := turn.NewPeerPolicy(cfg.TURN.AllowPeers, cfg.TURN.DenyPeers).WithServicePeers([]netip.Addr{
		cfg.TURN.ServicePeers[0].Addr, cfg.TURN.ServicePeers[1].Addr,
	})
	for addr, want := range map[string]bool{
		"10.0.0.7": false, // the database: covered by 10.0.0.0/8 and by the demo's own address, still refused
		"10.0.0.9": true,  // Redis, named exactly by --turn-allow-peers: the operator's choice
		"10.0.0.1": true,  // the rest of the allowed range
	} {
		ok, reason := policy.Allowed(netip.MustParseAddr(addr))
		assert.Equal(t, want, ok, "%s: %s", addr, reason)
	}
}
