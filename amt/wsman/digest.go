package wsman

import (
	"crypto/md5" //nolint:gosec // RFC 2617 digest is MD5; AMT offers nothing else.
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// maxAuthParams bounds how many name=value pairs a digest header may carry.
const maxAuthParams = 16

var errBadAuthHeader = errors.New("malformed digest header")

// parseDigestParams parses `Digest name=value, name="quoted value", …` into
// lower-cased names and unquoted values. It accepts both quoted and bare
// values (MPS quotes nc and qop; RFC 2617 does not) and no or any spaces
// around commas.
func parseDigestParams(h string) (map[string]string, error) {
	scheme, rest, ok := strings.Cut(strings.TrimLeft(h, " \t"), " ")
	if !ok || !strings.EqualFold(scheme, "Digest") {
		return nil, fmt.Errorf("%w: scheme is not Digest", errBadAuthHeader)
	}
	params := make(map[string]string)
	s := rest
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return params, nil
		}
		if len(params) >= maxAuthParams {
			return nil, fmt.Errorf("%w: too many parameters", errBadAuthHeader)
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%w: parameter without a value", errBadAuthHeader)
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var value string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("%w: unterminated quoted value", errBadAuthHeader)
			}
			value, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			value, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if name == "" || strings.ContainsAny(name, " \t\"") {
			return nil, fmt.Errorf("%w: bad parameter name", errBadAuthHeader)
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("%w: parameter %q repeated", errBadAuthHeader, name)
		}
		params[name] = value
	}
}

// challenge is a server's WWW-Authenticate: Digest.
type challenge struct {
	realm  string
	nonce  string
	opaque string
	qop    string // "auth" or "" (RFC 2069 style)
	stale  bool
}

func parseChallenge(h string) (challenge, error) {
	p, err := parseDigestParams(h)
	if err != nil {
		return challenge{}, err
	}
	ch := challenge{realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], stale: strings.EqualFold(p["stale"], "true")}
	if ch.nonce == "" {
		return challenge{}, fmt.Errorf("%w: challenge has no nonce", errBadAuthHeader)
	}
	if alg, ok := p["algorithm"]; ok && !strings.EqualFold(alg, "MD5") {
		return challenge{}, fmt.Errorf("%w: unsupported algorithm %q", errBadAuthHeader, alg)
	}
	if q, ok := p["qop"]; ok {
		for _, o := range strings.Split(q, ",") {
			if strings.EqualFold(strings.TrimSpace(o), "auth") {
				ch.qop = "auth"
			}
		}
		if ch.qop == "" {
			return challenge{}, fmt.Errorf("%w: qop %q offers no \"auth\"", errBadAuthHeader, q)
		}
	}
	return ch, nil
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // see import
	return hex.EncodeToString(sum[:])
}

// digestResponse is RFC 2617's request-digest for method and uri; with qop
// "" it is RFC 2069's MD5(HA1:nonce:HA2).
func digestResponse(user, realm, password, method, uri, nonce, nc, cnonce, qop string) string {
	ha1 := md5hex(user + ":" + realm + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	if qop == "" {
		return md5hex(ha1 + ":" + nonce + ":" + ha2)
	}
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

// quote makes a quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// authorization writes the Authorization header in MPS's exact shape:
// comma-separated without spaces, every value quoted (nc and qop too).
func authorization(ch challenge, user, password, method, uri, nc, cnonce string) string {
	resp := digestResponse(user, ch.realm, password, method, uri, ch.nonce, nc, cnonce, ch.qop)
	parts := []string{
		"username=" + quote(user),
		"realm=" + quote(ch.realm),
		"nonce=" + quote(ch.nonce),
		"uri=" + quote(uri),
	}
	if ch.qop != "" {
		parts = append(parts, "qop="+quote(ch.qop), "response="+quote(resp), "nc="+quote(nc), "cnonce="+quote(cnonce))
	} else {
		parts = append(parts, "response="+quote(resp))
	}
	if ch.opaque != "" {
		parts = append(parts, "opaque="+quote(ch.opaque))
	}
	return "Digest " + strings.Join(parts, ",")
}
