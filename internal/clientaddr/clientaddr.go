// Package clientaddr decides which address a request comes from: the connection's peer, or,
// when that peer is a trusted reverse proxy, the address the proxies recorded in
// X-Forwarded-For. Every per-address rate limit and every audit entry uses this one answer.
//
// gofiber v2's own proxy support (Config.EnableTrustedProxyCheck, TrustedProxies,
// ProxyHeader) does not walk the chain: behind a trusted proxy c.IP() returns the header's
// first valid entry (or the whole header), and the first entry is whatever the client wrote.
// A client sending "X-Forwarded-For: 203.0.113.9" through nginx (which appends the real
// address) would be taken for 203.0.113.9. So the header is walked here, from the right.
package clientaddr

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Header is the request header Middleware sets to the resolved client address; the app's
// fiber.Config.ProxyHeader names it, so c.IP() everywhere (handlers, the limiter middleware,
// the websocket upgrade) answers with the resolved address. Middleware always overwrites it:
// a client sending it gains nothing.
const Header = "X-Kvmrelay-Client-Addr"

// Resolver resolves client addresses; the zero value trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// New trusts the proxies in the given ranges (the hops in front of the relay: a load
// balancer, a TLS-terminating nginx).
func New(trusted []netip.Prefix) Resolver {
	out := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		out = append(out, netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked())
	}
	return Resolver{trusted: out}
}

// unmappedBits is p's length after turning a 4-in-6 prefix (::ffff:10.0.0.0/104) into IPv4.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

func (r Resolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve is the client address of a request whose connection comes from peer and which
// carries the X-Forwarded-For header values forwarded (every header line, in order).
//
// The header is believed only as far as trusted hops vouch for it: if peer is not trusted,
// the answer is peer, whatever the header says. Otherwise the entries are walked from the
// right (each proxy appends the address it received the request from); trusted entries are
// skipped and the first untrusted one is the client. Entries left of it were written by the
// client or by hops nobody vouches for, and are never read. An entry that is not an address
// ends the walk: the last trusted hop is then the best address known. When every entry is
// trusted, the leftmost is (a proxy's own request, such as a health check).
func (r Resolver) Resolve(peer netip.Addr, forwarded []string) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer
	}
	client := peer
	for i := len(forwarded) - 1; i >= 0; i-- {
		entries := strings.Split(forwarded[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			e := strings.TrimSpace(entries[j])
			if e == "" {
				continue
			}
			a, ok := parseEntry(e)
			if !ok {
				return client
			}
			client = a
			if !r.isTrusted(a) {
				return a
			}
		}
	}
	return client
}

// parseEntry reads one X-Forwarded-For entry: an address, optionally with a port
// ("192.0.2.1:443", "[2001:db8::1]:443") as some proxies write.
func parseEntry(e string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(e); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(e); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// Middleware resolves the client address of every request and stores it in Header, which the
// app's ProxyHeader names. Install it first, before any handler or middleware that reads c.IP().
func (r Resolver) Middleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := &c.Request().Header
		peer := c.Context().RemoteIP()
		a, _ := netip.AddrFromSlice(peer)
		var forwarded []string
		if len(r.trusted) > 0 {
			for _, v := range h.PeekAll(fiber.HeaderXForwardedFor) {
				forwarded = append(forwarded, string(v))
			}
		}
		h.Set(Header, r.Resolve(a, forwarded).String())
		if !r.isTrusted(a) {
			// fiber's c.Protocol() (which decides the cookies' Secure flag) and c.Hostname()
			// read these from anyone; only a trusted proxy may say how the client connected.
			for _, name := range schemeHeaders {
				h.Del(name)
			}
		}
		return c.Next()
	}
}

// schemeHeaders are the headers through which a proxy tells the scheme and host the client
// used; fiber reads them without asking who sent them.
var schemeHeaders = []string{
	fiber.HeaderXForwardedProto, fiber.HeaderXForwardedProtocol, fiber.HeaderXForwardedSsl,
	fiber.HeaderXUrlScheme, fiber.HeaderXForwardedHost,
}
