package turn

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServicePeerPolicy: the relay's own service hosts are refused inside AllowPeers ranges, in
// every address form, and only an AllowPeers entry naming exactly that host lets one through;
// DenyPeers still beats even that.
func TestServicePeerPolicy(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		allow, deny []netip.Prefix
		services    []netip.Addr
		addr        string
		want        bool
		reason      string
	}{
		{"service host refused inside an allowed range", pfx("10.0.0.0/8"), nil, addrs("10.0.0.5"), "10.0.0.5", false, ReasonService},
		{"the rest of the range stays allowed", pfx("10.0.0.0/8"), nil, addrs("10.0.0.5"), "10.0.0.6", true, ""},
		{"allow everything does not open it", pfx("0.0.0.0/0", "::/0"), nil, addrs("10.0.0.5"), "10.0.0.5", false, ReasonService},
		{"mapped form refused", pfx("10.0.0.0/8"), nil, addrs("10.0.0.5"), "::ffff:10.0.0.5", false, ReasonService},
		{"public service host refused", nil, nil, addrs("8.8.8.8"), "8.8.8.8", false, ReasonService},
		{"its NAT64 form refused", nil, nil, addrs("8.8.8.8"), "64:ff9b::808:808", false, ReasonService},
		{"its 6to4 form refused", nil, nil, addrs("8.8.8.8"), "2002:808:808::1", false, ReasonService},
		{"IPv6 service host refused", nil, nil, addrs("2001:4860:4860::8888"), "2001:4860:4860::8888", false, ReasonService},
		{"given as IPv4-mapped, refused as IPv4", pfx("10.0.0.0/8"), nil, addrs("::ffff:10.0.0.5"), "10.0.0.5", false, ReasonService},
		{"exact allow overrides", pfx("10.0.0.0/8", "10.0.0.5/32"), nil, addrs("10.0.0.5"), "10.0.0.5", true, ""},
		{"exact allow alone overrides", pfx("10.0.0.5/32"), nil, addrs("10.0.0.5"), "10.0.0.5", true, ""},
		{"exact allow in mapped form overrides", pfx("::ffff:10.0.0.5/128"), nil, addrs("10.0.0.5"), "10.0.0.5", true, ""},
		{"exact IPv6 allow overrides", pfx("2001:4860:4860::8888/128"), nil, addrs("2001:4860:4860::8888"), "2001:4860:4860::8888", true, ""},
		{"a /31 is not exact", pfx("10.0.0.4/31"), nil, addrs("10.0.0.5"), "10.0.0.5", false, ReasonService},
		{"deny beats an exact allow", pfx("10.0.0.5/32"), pfx("10.0.0.0/24"), addrs("10.0.0.5"), "10.0.0.5", false, ReasonDenied},
		{"exact allow of a service still leaves built-ins", pfx("10.0.0.5/32"), nil, addrs("10.0.0.5"), "10.0.0.6", false, "private (10.0.0.0/8)"},
		{"invalid service address ignored", pfx("10.0.0.0/8"), nil, []netip.Addr{{}}, "10.0.0.5", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := NewPeerPolicy(tc.allow, tc.deny).WithServicePeers(tc.services).Allowed(netip.MustParseAddr(tc.addr))
			assert.Equal(t, tc.want, ok, reason)
			if tc.reason != "" {
				assert.Contains(t, reason, tc.reason)
			}
		})
	}
	base := NewPeerPolicy(pfx("10.0.0.0/8"), nil)
	_ = base.WithServicePeers(addrs("10.0.0.5"))
	ok, _ := base.Allowed(netip.MustParseAddr("10.0.0.5"))
	assert.True(t, ok, "WithServicePeers leaves the policy it was called on unchanged")
}

// fakeResolver answers from a table; names not in it fail.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip" {
		return nil, errors.New("want network ip, got " + network)
	}
	a, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return a, nil
}

func TestResolveServicePeers(t *testing.T) {
	r := fakeResolver{
		"db.internal":    {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::3")},
		"redis.internal": {netip.MustParseAddr("::ffff:10.1.2.4")},
		"empty.internal": {},
	}
	for _, tc := range []struct {
		name    string
		hosts   []string
		want    []string // addresses
		wantErr string
	}{
		{"literal IPv4", []string{"192.0.2.10"}, []string{"192.0.2.10"}, ""},
		{"literal IPv6 in brackets", []string{"[2001:db8::1]"}, []string{"2001:db8::1"}, ""},
		{"literal with zone", []string{"fe80::1%eth0"}, []string{"fe80::1"}, ""},
		{"mapped literal unmapped", []string{"::ffff:192.0.2.10"}, []string{"192.0.2.10"}, ""},
		{"name: every address", []string{"db.internal"}, []string{"10.1.2.3", "fd00::3"}, ""},
		{"name answering mapped", []string{"redis.internal"}, []string{"10.1.2.4"}, ""},
		{"unix socket and abstract socket skipped", []string{"/var/run/postgresql", "@redis", ""}, nil, ""},
		{"duplicates once", []string{"10.1.2.3", "db.internal"}, []string{"10.1.2.3", "fd00::3"}, ""},
		{"unresolvable name fails", []string{"nowhere.internal"}, nil, `resolve database host "nowhere.internal"`},
		{"name without addresses fails", []string{"empty.internal"}, nil, "no addresses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveServicePeers(context.Background(), r, "database", tc.hosts...)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			var addrs []string
			for _, p := range got {
				assert.Equal(t, "database", p.Service)
				addrs = append(addrs, p.Addr.String())
			}
			assert.Equal(t, tc.want, addrs)
		})
	}
}

// TestServicePeerRefusedThroughAllocation: a relay whose AllowPeers covers 127.0.0.0/8 but whose
// Redis listens on 127.0.0.2 refuses real allocations (pion's client, UDP and TCP) permission to
// 127.0.0.2 with 403 and never sends it a byte, while relaying to 127.0.0.3 as before — unless
// AllowPeers names 127.0.0.2 exactly.
func TestServicePeerRefusedThroughAllocation(t *testing.T) {
	for _, tc := range []struct {
		name          string
		allow         []netip.Prefix
		serviceOpened bool
	}{
		{"range allowed, service host auto-denied", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false},
		{"service host allowed by name", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("127.0.0.2/32")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			service, err := listenUDPEcho(t, mustAddrPort("127.0.0.2:0"))
			require.NoError(t, err)
			other, err := listenUDPEcho(t, mustAddrPort("127.0.0.3:0"))
			require.NoError(t, err)
			ts := startServer(t, func(c *Config) {
				c.AllowPeers = tc.allow
				c.ServicePeers = []ServicePeer{{Service: "redis", Host: "redis.internal", Addr: netip.MustParseAddr("127.0.0.2")}}
			})
			for _, network := range []string{"udp", "tcp"} {
				t.Run(network, func(t *testing.T) {
					user, pass := ts.creds("console-"+network, time.Minute)
					c := newPionClient(t, ts, network, user, pass)
					relay, err := c.Allocate()
					require.NoError(t, err)
					defer relay.Close()
					buf := make([]byte, 1500)
					roundTrip := func(to netip.AddrPort) error {
						msg := []byte("kvmrelay to " + to.String())
						if _, err := relay.WriteTo(msg, udpAddr(to)); err != nil {
							return err
						}
						require.NoError(t, relay.SetReadDeadline(time.Now().Add(5*time.Second)))
						n, from, err := relay.ReadFrom(buf)
						require.NoError(t, err)
						assert.Equal(t, to.String(), from.String())
						assert.True(t, bytes.Equal(msg, buf[:n]))
						return nil
					}
					require.NoError(t, roundTrip(other.addr()), "an ordinary allowed peer")
					err = roundTrip(service.addr())
					if tc.serviceOpened {
						require.NoError(t, err)
						return
					}
					require.Error(t, err)
					assert.Equal(t, int(stun.CodeForbidden), turnCode(err), "%v", err)
				})
			}
			// Raw requests too: ChannelBind and a Send indication are refused or dropped.
			if !tc.serviceOpened {
				user, pass := ts.creds("console-raw", time.Minute)
				rc := dialRaw(t, ts, "udp", user, pass)
				require.Zero(t, errorCode(rc.allocate(protoUDPByte)))
				res := rc.do(stun.MethodChannelBind, channelAttr(0x4001), peerAttr(service.addr()))
				assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "ChannelBind")
				rc.indicate(stun.MethodSend, peerAttr(service.addr()), dataAttr([]byte("hello redis")))
				rc.do(stun.MethodBinding) // the Send was handled before this answer
				assert.Zero(t, service.count(), "the service host heard nothing")
				for _, p := range ts.egress.all() {
					assert.NotEqual(t, service.addr().Addr(), p.Addr(), "no relay socket was asked to send to the service host")
				}
			} else {
				assert.Positive(t, service.count())
			}
		})
	}
}
