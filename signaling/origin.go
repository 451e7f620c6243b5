package signaling

import (
	"fmt"
	"net/url"
	"strings"
)

// origins is the set of browser origins allowed to open a console WebSocket: the relay's own
// (its public URL's) and the configured extra ones, each as scheme://host[:port] in canonical
// form. Nothing about the request itself (Host, X-Forwarded-Host) widens it: a client chooses
// those headers, so deriving "own origin" from them lets any page that can reach the relay,
// or any proxy hop, vouch for itself. The scheme is part of the origin: a page served over
// plain http is not the https relay.
type origins map[string]bool

// newOrigins builds the set; an entry that is not an http(s) origin is a configuration error.
func newOrigins(publicURL string, allowed []string) (origins, error) {
	set := origins{}
	if publicURL != "" {
		o, ok := canonicalOrigin(publicURL, true)
		if !ok {
			return nil, fmt.Errorf("signaling: public URL %q is not http(s)://host[:port][/path]", publicURL)
		}
		set[o] = true
	}
	for _, a := range allowed {
		o, ok := canonicalOrigin(strings.TrimRight(a, "/"), false)
		if !ok {
			return nil, fmt.Errorf("signaling: allowed origin %q is not http(s)://host[:port]", a)
		}
		set[o] = true
	}
	return set, nil
}

// allows reports whether a request's Origin header is in the set.
func (s origins) allows(origin string) bool {
	o, ok := canonicalOrigin(origin, false)
	return ok && s[o]
}

// canonicalOrigin is raw's origin as browsers serialize it: lower-case scheme and host, the
// scheme's default port left out. A URL with a path is accepted only when withPath (the public
// URL may carry one; an Origin header never does). Userinfo, queries and fragments are refused.
func canonicalOrigin(raw string, withPath bool) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	if !withPath && u.Path != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	switch {
	case scheme != "http" && scheme != "https":
		return "", false
	case scheme == "http" && port == "80", scheme == "https" && port == "443":
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, true
	}
	return scheme + "://" + host, true
}
