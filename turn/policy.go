package turn

import (
	"net/netip"
	"slices"
)

// PeerPolicy decides which peer addresses the relay may send to or accept traffic from.
// pion/turn allows every peer by default; a TURN relay that does so is a door into the
// relay's own network (coturn CVE-2020-26262), so the default here is to refuse every
// special-purpose range and allow the rest of the Internet.
//
// Decision for one address, in order (first match wins):
//
//  1. the address is invalid → refused;
//  2. the address, or any address it embeds, is in DenyPeers → refused ("explicit deny
//     beats allow": use it for the relay's own database, Redis, admin hosts);
//  3. the address, or any address it embeds, is a service host of the relay (WithServicePeers:
//     its database, its Redis) → refused, even inside an AllowPeers range; only an AllowPeers
//     entry naming exactly that host (/32 or /128) lets it through;
//  4. every address it may reach (see below) is in AllowPeers or in no built-in range →
//     allowed ("allow beats built-in deny": an operator exception such as a lab 10.0.0.0/8);
//  5. otherwise refused, with the built-in range as the reason.
//
// "Addresses it may reach": IPv4-mapped addresses are unmapped; IPv4-compatible, SIIT
// IPv4-translated, NAT64 (64:ff9b::/96), 6to4, Teredo (server and client) and ISATAP forms
// are decided on the IPv4 addresses they carry (ISATAP on the outer address as well). An
// AllowPeers entry therefore has to name the IPv4 range, not its IPv6 spelling: allowing
// 64:ff9b::/96 does not open 64:ff9b::7f00:1 (= 127.0.0.1).
//
// A PeerPolicy is immutable and safe for concurrent use.
type PeerPolicy struct {
	allow    []netip.Prefix
	deny     []netip.Prefix
	services []netip.Prefix // single hosts, minus those AllowPeers names exactly
	builtin  []specialRange
}

type specialRange struct {
	prefix netip.Prefix
	reason string
}

// Reasons of the built-in refusals that callers or tests may want to recognise.
const (
	ReasonInvalid     = "invalid address"
	ReasonDenied      = "denied by DenyPeers"
	ReasonService     = "a service host of this relay (database, Redis)"
	ReasonNotUnicast6 = "not IPv6 global unicast (outside 2000::/3)"
)

// NewPeerPolicy returns a policy refusing the built-in special ranges except where allow
// covers them, and refusing deny always. Invalid prefixes are ignored (Server's New rejects
// them before they get here); IPv4-mapped prefixes (::ffff:10.0.0.0/104) are turned into
// their IPv4 form.
func NewPeerPolicy(allow, deny []netip.Prefix) *PeerPolicy {
	return &PeerPolicy{
		allow:   normalizePrefixes(allow),
		deny:    normalizePrefixes(deny),
		builtin: builtinRanges(),
	}
}

// Allowed reports whether addr may be a peer, and why not when it may not.
func (p *PeerPolicy) Allowed(addr netip.Addr) (ok bool, reason string) {
	a := normalize(addr)
	if !a.IsValid() {
		return false, ReasonInvalid
	}
	if ok, reason := p.notDenied(a); !ok {
		return false, reason
	}
	t := reach(a)
	for _, target := range t.list() {
		if ok, reason := p.allowedOne(target); !ok {
			if t.form != "" && target != a {
				reason = t.form + " " + a.String() + " embeds " + target.String() + ": " + reason
			}
			return false, reason
		}
	}
	return true, ""
}

func (p *PeerPolicy) allowedOne(a netip.Addr) (bool, string) {
	if ok, reason := p.notDenied(a); !ok {
		return false, reason
	}
	if _, hit := firstContaining(p.allow, a); hit {
		return true, ""
	}
	for _, r := range p.builtin {
		if r.prefix.Contains(a) {
			return false, r.reason
		}
	}
	if a.Is6() && !globalUnicast6.Contains(a) {
		return false, ReasonNotUnicast6
	}
	return true, ""
}

// notDenied applies DenyPeers and the service hosts, which no AllowPeers range overrides.
func (p *PeerPolicy) notDenied(a netip.Addr) (bool, string) {
	if pfx, hit := firstContaining(p.deny, a); hit {
		return false, ReasonDenied + " " + pfx.String()
	}
	if pfx, hit := firstContaining(p.services, a); hit {
		return false, ReasonService + " " + pfx.Addr().String()
	}
	return true, ""
}

// WithServicePeers returns a copy of p that also refuses the relay's own service hosts (its
// database, its Redis): a TURN client must not reach them even when an AllowPeers range covers
// them — a lab's 10.0.0.0/8 exception is not meant to open the relay's PostgreSQL. An AllowPeers
// entry naming exactly one of them (its /32 or /128, IPv4-mapped forms included) is the
// operator saying so on purpose: that host stays allowed (see ServiceAllowed). Invalid
// addresses are ignored (Server's New rejects them).
func (p *PeerPolicy) WithServicePeers(addrs []netip.Addr) *PeerPolicy {
	q := *p
	q.services = nil
	for _, a := range addrs {
		if !a.IsValid() || q.ServiceAllowed(a) {
			continue
		}
		a = a.WithZone("").Unmap()
		q.services = append(q.services, netip.PrefixFrom(a, a.BitLen()))
	}
	q.services = slices.Clip(q.services)
	return &q
}

// ServiceAllowed reports whether AllowPeers names exactly the host a, so that WithServicePeers
// leaves it allowed.
func (p *PeerPolicy) ServiceAllowed(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	return a.IsValid() && slices.Contains(p.allow, netip.PrefixFrom(a, a.BitLen()))
}

var globalUnicast6 = netip.MustParsePrefix("2000::/3")

func firstContaining(prefixes []netip.Prefix, a netip.Addr) (netip.Prefix, bool) {
	for _, p := range prefixes {
		if p.Contains(a) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// normalizePrefixes masks, unmaps and drops invalid prefixes, returning a new slice.
func normalizePrefixes(in []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if p, ok := normalizePrefix(p); ok {
			out = append(out, p)
		}
	}
	return slices.Clip(out)
}

func normalizePrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a := p.Addr().WithZone("")
	bits := p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}

// builtinRanges lists the special-purpose ranges refused by default (IANA IPv4 and IPv6
// Special-Purpose Address Registries, plus cloud metadata endpoints). A more specific entry
// comes before the range that covers it so the reason names it. IPv6 outside 2000::/3 is
// refused by a catch-all after this table.
func builtinRanges() []specialRange {
	table := []struct{ cidr, reason string }{
		{"0.0.0.0/32", "unspecified"},
		{"0.0.0.0/8", "\"this network\" (0.0.0.0/8)"},
		{"10.0.0.0/8", "private (10.0.0.0/8)"},
		{"100.100.100.200/32", "cloud metadata (Alibaba)"},
		{"100.64.0.0/10", "shared address space / CGNAT (100.64.0.0/10)"},
		{"127.0.0.0/8", "loopback"},
		{"168.63.129.16/32", "cloud platform endpoint (Azure WireServer)"},
		{"169.254.169.254/32", "cloud metadata"},
		{"169.254.0.0/16", "link-local"},
		{"172.16.0.0/12", "private (172.16.0.0/12)"},
		{"192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"},
		{"192.0.2.0/24", "documentation (TEST-NET-1)"},
		{"192.88.99.0/24", "6to4 relay anycast (deprecated)"},
		{"192.168.0.0/16", "private (192.168.0.0/16)"},
		{"198.18.0.0/15", "benchmarking (198.18.0.0/15)"},
		{"198.51.100.0/24", "documentation (TEST-NET-2)"},
		{"203.0.113.0/24", "documentation (TEST-NET-3)"},
		{"224.0.0.0/4", "multicast"},
		{"255.255.255.255/32", "broadcast"},
		{"240.0.0.0/4", "reserved (240.0.0.0/4)"},

		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"64:ff9b:1::/48", "NAT64 local-use (64:ff9b:1::/48)"},
		{"100::/64", "discard-only (100::/64)"},
		{"2001:2::/48", "benchmarking (2001:2::/48)"},
		{"2001:10::/28", "ORCHID (deprecated)"},
		{"2001:20::/28", "ORCHIDv2"},
		{"2001:db8::/32", "documentation (2001:db8::/32)"},
		{"3fff::/20", "documentation (3fff::/20)"},
		{"fd00:ec2::254/128", "cloud metadata (AWS)"},
		{"fc00::/7", "unique local (fc00::/7)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated)"},
		{"ff00::/8", "multicast"},
	}
	out := make([]specialRange, len(table))
	for i, e := range table {
		out[i] = specialRange{prefix: netip.MustParsePrefix(e.cidr), reason: e.reason}
	}
	return out
}
