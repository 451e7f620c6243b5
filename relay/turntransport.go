package relay

import (
	"fmt"
	"slices"
	"strings"
)

// TURNTransport is one way peers reach the TURN server.
type TURNTransport string

// The transports of the embedded TURN server.
const (
	TURNOverUDP TURNTransport = "udp"
	TURNOverTCP TURNTransport = "tcp"
	TURNOverTLS TURNTransport = "tls"
)

// ParseTURNTransports parses "udp,tcp,tls" (any subset; "" is nil: all).
func ParseTURNTransports(s string) ([]TURNTransport, error) {
	var out []TURNTransport
	for _, p := range strings.Split(s, ",") {
		switch t := TURNTransport(strings.ToLower(strings.TrimSpace(p))); t {
		case "":
		case TURNOverUDP, TURNOverTCP, TURNOverTLS:
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		default:
			return nil, fmt.Errorf("%q is not udp, tcp or tls", p)
		}
	}
	return out, nil
}

// transportOf classifies an ICE server URL; STUN URLs have none.
func transportOf(u string) (TURNTransport, bool) {
	switch {
	case strings.HasPrefix(u, "turns:"):
		return TURNOverTLS, true
	case strings.HasPrefix(u, "turn:") && strings.Contains(u, "transport=tcp"):
		return TURNOverTCP, true
	case strings.HasPrefix(u, "turn:"):
		return TURNOverUDP, true
	}
	return "", false
}

// filterTURNURLs keeps STUN URLs and the TURN URLs of the allowed transports (nil: all).
func filterTURNURLs(urls []string, only []TURNTransport) []string {
	if len(only) == 0 {
		return urls
	}
	var out []string
	for _, u := range urls {
		if t, isTURN := transportOf(u); !isTURN || slices.Contains(only, t) {
			out = append(out, u)
		}
	}
	return out
}
