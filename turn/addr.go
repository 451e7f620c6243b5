package turn

import (
	"net"
	"net/netip"
)

// Address normalization. An IPv6 address can carry an IPv4 address in several standard ways,
// and a host (or a translator next to it) may deliver a packet sent to the IPv6 form to the
// IPv4 address. coturn learned this one form at a time (CVE-2020-26262 and later fixes), so
// the policy decides on every address a peer address may really reach, not on its spelling.

// Embedding forms, used in refusal reasons.
const (
	formMapped     = "IPv4-mapped"     // ::ffff:a.b.c.d (RFC 4291)
	formTranslated = "IPv4-translated" // ::ffff:0:a.b.c.d (SIIT, RFC 2765)
	formCompatible = "IPv4-compatible" // ::a.b.c.d (deprecated, RFC 4291)
	formNAT64      = "NAT64"           // 64:ff9b::a.b.c.d (RFC 6052)
	form6to4       = "6to4"            // 2002:AABB:CCDD::/48 (RFC 3056)
	formTeredo     = "Teredo"          // 2001:0:SSSS:SSSS:flags:port:~CCCC:~CCCC (RFC 4380)
	formISATAP     = "ISATAP"          // prefix:0000:5efe:a.b.c.d or :0200:5efe: (RFC 5214)
)

var (
	nat64WKP   = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
	translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	compatible = netip.MustParsePrefix("::/96")
)

// targets is the set of addresses one peer address may reach: the address itself, or the
// IPv4 addresses embedded in it (with the address itself where it is routed as it is, as for
// ISATAP). At most two (Teredo carries a server and a client address).
type targets struct {
	form string // "" when addrs[0] is the address itself
	n    int
	addr [2]netip.Addr
}

func (t targets) list() []netip.Addr { return t.addr[:t.n] }

// normalize strips the zone and unmaps IPv4-mapped IPv6. It returns the zero Addr for an
// invalid input.
func normalize(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

// reach returns what a (already normalized) may reach.
func reach(a netip.Addr) targets {
	if !a.Is6() {
		return targets{n: 1, addr: [2]netip.Addr{a}}
	}
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case nat64WKP.Contains(a):
		return targets{form: formNAT64, n: 1, addr: [2]netip.Addr{v4(12)}}
	case translated.Contains(a):
		return targets{form: formTranslated, n: 1, addr: [2]netip.Addr{v4(12)}}
	case compatible.Contains(a) && !a.IsUnspecified() && !a.IsLoopback():
		// :: and ::1 keep their IPv6 meaning (and reason); every other ::a.b.c.d is IPv4.
		return targets{form: formCompatible, n: 1, addr: [2]netip.Addr{v4(12)}}
	case sixToFour.Contains(a):
		return targets{form: form6to4, n: 1, addr: [2]netip.Addr{v4(2)}}
	case teredo.Contains(a):
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return targets{form: formTeredo, n: 2, addr: [2]netip.Addr{v4(4), client}}
	case b[8]&^0x02 == 0 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe:
		// ISATAP interface identifier (the u/l bit may be set): the packet is routed on the
		// prefix, whatever it is, and its router forwards over IPv4 to the embedded address.
		// Both must pass.
		return targets{form: formISATAP, n: 2, addr: [2]netip.Addr{a, v4(12)}}
	}
	return targets{n: 1, addr: [2]netip.Addr{a}}
}

// addrFromIP converts a net.IP (4 or 16 bytes) to a normalized netip.Addr; invalid input
// gives the zero Addr.
func addrFromIP(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return normalize(a)
}

// addrPortOf returns the IP and port of a UDP or TCP net.Addr, normalized.
func addrPortOf(addr net.Addr) (netip.AddrPort, bool) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip := addrFromIP(a.IP)
		return netip.AddrPortFrom(ip, uint16(a.Port)), ip.IsValid() //nolint:gosec // ports fit
	case *net.TCPAddr:
		ip := addrFromIP(a.IP)
		return netip.AddrPortFrom(ip, uint16(a.Port)), ip.IsValid() //nolint:gosec // ports fit
	}
	return netip.AddrPort{}, false
}
