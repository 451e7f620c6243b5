package turn

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forbiddenPeers is every address form of SECURITY.md item 1, and more; the default policy
// must refuse each of them. Shared with the end-to-end tests.
var forbiddenPeers = []string{
	// unspecified, loopback
	"0.0.0.0", "::", "127.0.0.1", "127.255.255.254", "::1",
	// private, CGNAT
	"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.0.1", "192.168.255.255",
	"100.64.0.1", "100.127.255.254",
	// link-local, metadata
	"169.254.0.1", "169.254.169.254", "169.254.170.2", "fe80::1", "febf:ffff::1", "fd00:ec2::254",
	"100.100.100.200", "168.63.129.16",
	// unique-local, site-local
	"fc00::1", "fdff:ffff::1", "fec0::1",
	// multicast, broadcast
	"224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1", "255.255.255.255",
	// this network, reserved, IETF, documentation, benchmarking
	"0.1.2.3", "0.255.255.255", "240.0.0.1", "192.0.0.170", "192.0.0.171", "192.0.2.1",
	"198.18.0.1", "198.51.100.1", "203.0.113.1", "2001:db8::1", "3fff::1", "100::1", "2001:2::1",
	// IPv4-mapped
	"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::ffff:10.0.0.1",
	// IPv4-compatible (deprecated)
	"::127.0.0.1", "::169.254.169.254", "::10.0.0.1", "::0.0.0.2",
	// SIIT IPv4-translated
	"::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe",
	// NAT64 well-known prefix, local-use prefix
	"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b::", "64:ff9b:1::8.8.8.8",
	// 6to4
	"2002:7f00:1::", "2002:7f00:1::1", "2002:a9fe:a9fe::", "2002:a00:1::1", "2002::",
	// Teredo: server 127.0.0.1; client ~(0x80ffffff) = 127.0.0.0 … with a public server
	"2001:0:7f00:1::1", "2001:0:808:808:0:0:80ff:fffe", "2001:0:808:808::5601:5601",
	// ISATAP embedding loopback, and ISATAP on a link-local prefix
	"2a00:1450::5efe:7f00:1", "2a00:1450::200:5efe:a9fe:a9fe", "fe80::5efe:808:808",
	// not IPv6 global unicast
	"4000::1", "::2:0:0:1", "5f00::1",
	// zones do not help
	"fe80::1%eth0",
}

var publicPeers = []string{
	"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
	"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	"2001:0:808:808::f7f7:f7f7", // Teredo: server 8.8.8.8, client 8.8.8.8
	"100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255",
	"192.169.0.0", "169.253.255.255", "223.255.255.255", "11.0.0.0", "126.255.255.255", "128.0.0.0",
}

func TestPeerPolicyDefaultRefusesSpecialRanges(t *testing.T) {
	p := NewPeerPolicy(nil, nil)
	for _, s := range forbiddenPeers {
		t.Run(s, func(t *testing.T) {
			ok, reason := p.Allowed(netip.MustParseAddr(s))
			assert.False(t, ok, "refused")
			assert.NotEmpty(t, reason)
		})
	}
}

func TestPeerPolicyDefaultAllowsPublic(t *testing.T) {
	p := NewPeerPolicy(nil, nil)
	for _, s := range publicPeers {
		t.Run(s, func(t *testing.T) {
			ok, reason := p.Allowed(netip.MustParseAddr(s))
			assert.True(t, ok, reason)
		})
	}
}

func TestPeerPolicyInvalid(t *testing.T) {
	ok, reason := NewPeerPolicy([]netip.Prefix{netip.MustParsePrefix("::/0"), netip.MustParsePrefix("0.0.0.0/0")}, nil).
		Allowed(netip.Addr{})
	assert.False(t, ok)
	assert.Equal(t, ReasonInvalid, reason)
}

func TestPeerPolicyReasons(t *testing.T) {
	p := NewPeerPolicy(nil, nil)
	for _, tc := range []struct{ addr, reason string }{
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"169.254.169.254", "cloud metadata"},
		{"255.255.255.255", "broadcast"},
		{"64:ff9b::7f00:1", "NAT64 64:ff9b::7f00:1 embeds 127.0.0.1: loopback"},
		{"2002:7f00:1::", "6to4 2002:7f00:1:: embeds 127.0.0.1: loopback"},
		{"::127.0.0.1", "IPv4-compatible ::7f00:1 embeds 127.0.0.1: loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"4000::1", ReasonNotUnicast6},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			_, reason := p.Allowed(netip.MustParseAddr(tc.addr))
			assert.Equal(t, tc.reason, reason)
		})
	}
}

func TestPeerPolicyPrecedence(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		allow, deny []netip.Prefix
		addr        string
		want        bool
	}{
		{"allow beats built-in deny", pfx("127.0.0.0/8"), nil, "127.0.0.1", true},
		{"allow reaches the mapped form", pfx("127.0.0.0/8"), nil, "::ffff:127.0.0.1", true},
		{"allow reaches the NAT64 form", pfx("127.0.0.0/8"), nil, "64:ff9b::7f00:1", true},
		{"allow of a mapped prefix works as IPv4", pfx("::ffff:10.0.0.0/104"), nil, "10.1.2.3", true},
		{"allow covers only its range", pfx("127.0.0.0/8"), nil, "10.0.0.1", false},
		{"allow of the outer NAT64 prefix does not open loopback", pfx("64:ff9b::/96"), nil, "64:ff9b::7f00:1", false},
		{"allow of 6to4 does not open loopback", pfx("2002::/16"), nil, "2002:7f00:1::", false},
		{"explicit deny beats allow", pfx("10.0.0.0/8"), pfx("10.0.0.5/32"), "10.0.0.5", false},
		{"explicit deny beats allow, mapped", pfx("10.0.0.0/8"), pfx("10.0.0.5/32"), "::ffff:10.0.0.5", false},
		{"explicit deny of a public host (the DB)", nil, pfx("8.8.8.8/32"), "8.8.8.8", false},
		{"explicit deny reaches the NAT64 form", nil, pfx("8.8.8.8/32"), "64:ff9b::808:808", false},
		{"explicit deny reaches the 6to4 form", nil, pfx("8.8.8.8/32"), "2002:808:808::1", false},
		{"explicit deny of the outer form", nil, pfx("2002::/16"), "2002:808:808::1", false},
		{"deny leaves the rest alone", nil, pfx("8.8.8.8/32"), "8.8.4.4", true},
		{"unmasked prefix is masked", pfx("127.1.2.3/8"), nil, "127.9.9.9", true},
		{"allow everything still refuses deny", pfx("0.0.0.0/0", "::/0"), pfx("169.254.169.254/32"), "169.254.169.254", false},
		{"allow everything opens the rest", pfx("0.0.0.0/0", "::/0"), nil, "fe80::1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := NewPeerPolicy(tc.allow, tc.deny).Allowed(netip.MustParseAddr(tc.addr))
			assert.Equal(t, tc.want, ok, reason)
		})
	}
}

// --- Fuzzing against an independent implementation -------------------------------------

// refTable is the reference: plain CIDR strings matched with byte masks, nothing shared with
// policy.go or addr.go.
var refTable4 = []string{
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "168.63.129.16/32", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
}

var refTable6 = []string{
	"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:2::/48", "2001:10::/28", "2001:20::/28",
	"2001:db8::/32", "3fff::/20", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
}

type refCIDR struct {
	ip   []byte
	bits int
}

func parseRef(t testing.TB, s string) refCIDR {
	p, err := netip.ParsePrefix(s)
	require.NoError(t, err)
	return refCIDR{ip: p.Addr().AsSlice(), bits: p.Bits()}
}

func (c refCIDR) contains(ip []byte) bool {
	if len(ip) != len(c.ip) {
		return false
	}
	for i := 0; i < c.bits; i++ {
		mask := byte(0x80) >> (i % 8)
		if ip[i/8]&mask != c.ip[i/8]&mask {
			return false
		}
	}
	return true
}

type refPolicy struct{ v4, v6, allow, deny []refCIDR }

func newRefPolicy(t testing.TB, allow, deny []string) refPolicy {
	var r refPolicy
	for _, s := range refTable4 {
		r.v4 = append(r.v4, parseRef(t, s))
	}
	for _, s := range refTable6 {
		r.v6 = append(r.v6, parseRef(t, s))
	}
	for _, s := range allow {
		r.allow = append(r.allow, parseRef(t, s))
	}
	for _, s := range deny {
		r.deny = append(r.deny, parseRef(t, s))
	}
	return r
}

func anyContains(cs []refCIDR, ip []byte) bool {
	for _, c := range cs {
		if c.contains(ip) {
			return true
		}
	}
	return false
}

// embedded returns the IPv4 addresses a 16-byte address carries, by byte position, and
// whether the outer address is decided too (nothing embedded, or ISATAP).
func refEmbedded(b []byte) (v4s [][]byte, outerToo bool) {
	zero := func(bs []byte) bool {
		for _, x := range bs {
			if x != 0 {
				return false
			}
		}
		return true
	}
	switch {
	case zero(b[:10]) && b[10] == 0xff && b[11] == 0xff: // mapped
		return [][]byte{b[12:16]}, false
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(b[4:12]): // NAT64
		return [][]byte{b[12:16]}, false
	case zero(b[:8]) && b[8] == 0xff && b[9] == 0xff && zero(b[10:12]): // SIIT
		return [][]byte{b[12:16]}, false
	case zero(b[:12]) && !(zero(b[12:15]) && (b[15] == 0 || b[15] == 1)): // compatible
		return [][]byte{b[12:16]}, false
	case b[0] == 0x20 && b[1] == 0x02: // 6to4
		return [][]byte{b[2:6]}, false
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0: // Teredo
		return [][]byte{b[4:8], {^b[12], ^b[13], ^b[14], ^b[15]}}, false
	case (b[8] == 0 || b[8] == 2) && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe: // ISATAP
		return [][]byte{b[12:16]}, true
	}
	return nil, true
}

func (r refPolicy) allowedOne(ip []byte) bool {
	if anyContains(r.deny, ip) {
		return false
	}
	if anyContains(r.allow, ip) {
		return true
	}
	if len(ip) == 4 {
		return !anyContains(r.v4, ip)
	}
	return !anyContains(r.v6, ip) && ip[0]&0xe0 == 0x20 // 2000::/3
}

func (r refPolicy) allowed(b16 []byte) bool {
	v4s, outer := refEmbedded(b16)
	isMapped := len(v4s) == 1 && !outer && b16[10] == 0xff && b16[11] == 0xff && b16[8] == 0
	if !isMapped && anyContains(r.deny, b16) {
		return false
	}
	if outer && !r.allowedOne(b16) {
		return false
	}
	for _, v := range v4s {
		if !r.allowedOne(v) {
			return false
		}
	}
	return true
}

func FuzzPeerPolicy(f *testing.F) {
	for _, s := range append(append([]string{}, forbiddenPeers...), publicPeers...) {
		a := netip.MustParseAddr(s).WithZone("")
		b := a.As16()
		f.Add(b[:], false)
		f.Add(b[:], true)
	}
	allow := []string{"127.0.0.0/8", "10.1.0.0/16", "fd12::/16"}
	deny := []string{"127.0.0.9/32", "8.8.8.0/24", "2606:4700::/32", "10.1.2.0/24"}
	p := NewPeerPolicy(mustPrefixes(allow), mustPrefixes(deny))
	p0 := NewPeerPolicy(nil, nil)
	ref := newRefPolicy(f, allow, deny)
	ref0 := newRefPolicy(f, nil, nil)
	f.Fuzz(func(t *testing.T, raw []byte, withLists bool) {
		var b [16]byte
		copy(b[:], raw)
		a := netip.AddrFrom16(b)
		pol, r := p0, ref0
		if withLists {
			pol, r = p, ref
		}
		got, reason := pol.Allowed(a)
		want := r.allowed(b[:])
		if got != want {
			t.Fatalf("%s (%x): policy says %v (%q), reference says %v", a, b, got, reason, want)
		}
		// The IPv4 spelling of a mapped address decides the same.
		if a.Is4In6() {
			got4, _ := pol.Allowed(a.Unmap())
			require.Equal(t, got, got4)
		}
		// A 4-byte input decides as its mapped form.
		if len(raw) >= 4 {
			v4 := netip.AddrFrom4([4]byte(raw[:4]))
			var m [16]byte
			m[10], m[11] = 0xff, 0xff
			copy(m[12:], raw[:4])
			got4, _ := pol.Allowed(v4)
			require.Equal(t, r.allowed(m[:]), got4, "%s", v4)
		}
	})
}

func mustPrefixes(ss []string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// BenchmarkPeerPolicyAllowed: the relay sockets ask the policy for every datagram.
func BenchmarkPeerPolicyAllowed(b *testing.B) {
	p := NewPeerPolicy(mustPrefixes([]string{"198.18.0.0/24"}), mustPrefixes([]string{"203.0.113.5/32"}))
	for _, s := range []string{"93.184.216.34", "2a00:1450:4001:80b::200e", "64:ff9b::7f00:1"} {
		a := netip.MustParseAddr(s)
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				p.Allowed(a)
			}
		})
	}
}
