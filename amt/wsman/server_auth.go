package wsman

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// nonceLifetime is how long a nonce is accepted; after it a correct
	// digest gets a stale challenge and the client retries with a new one.
	nonceLifetime = 5 * time.Minute
	// maxNonces bounds the outstanding nonces; the oldest is forgotten first.
	maxNonces = 256
	// maxUsesPerNonce bounds the nc values remembered per nonce.
	maxUsesPerNonce = 4096
)

type nonceState struct {
	issued time.Time
	seen   map[uint32]struct{}
}

// newNonce issues a fresh nonce, shaped like AMT's (24 random bytes,
// base64). Nonces belong to the Server, not a connection: MPS answers a 401
// on a new channel with the nonce from the old one.
func (s *Server) newNonce() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	n := base64.StdEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.nonceOrder) >= maxNonces {
		delete(s.nonces, s.nonceOrder[0])
		s.nonceOrder = s.nonceOrder[1:]
	}
	s.nonces[n] = &nonceState{issued: s.now(), seen: make(map[uint32]struct{})}
	s.nonceOrder = append(s.nonceOrder, n)
	return n
}

// authResult says how a request's credentials fared.
type authResult int

const (
	authOK     authResult = iota
	authFailed            // no, malformed or wrong credentials
	authStale             // right credentials on an unknown or expired nonce
)

// isLowerHex reports whether s is n lowercase hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkAuth verifies the request's digest. Every field must be present and
// well formed before anything is compared, the username must be non-empty,
// and the response must be exactly 32 lowercase hex digits compared in
// constant time: AMT's CVE-2017-5689 accepted an empty response because it
// compared only as many bytes as the client sent.
func (s *Server) checkAuth(r *http.Request) (authResult, string) {
	hs := r.Header.Values("Authorization")
	if len(hs) != 1 {
		return authFailed, "no or several Authorization headers"
	}
	p, err := parseDigestParams(hs[0])
	if err != nil {
		return authFailed, err.Error()
	}
	user, realm, nonce, uri := p["username"], p["realm"], p["nonce"], p["uri"]
	qop, nc, cnonce, resp := p["qop"], p["nc"], p["cnonce"], p["response"]
	switch {
	case user == "":
		return authFailed, "empty username"
	case realm != s.realm:
		return authFailed, "wrong realm"
	case nonce == "":
		return authFailed, "empty nonce"
	case uri != r.RequestURI:
		return authFailed, "uri does not match the request"
	case qop != "auth":
		return authFailed, "qop is not auth"
	case !isHex8(nc):
		return authFailed, "nc is not 8 hex digits"
	case cnonce == "":
		return authFailed, "empty cnonce"
	case !isLowerHex(resp, 32):
		return authFailed, "response is not 32 lowercase hex digits"
	}
	if alg, ok := p["algorithm"]; ok && !strings.EqualFold(alg, "MD5") {
		return authFailed, "algorithm is not MD5"
	}
	want := digestResponse(s.user, s.realm, s.password, r.Method, uri, nonce, nc, cnonce, qop)
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.user))
	respOK := subtle.ConstantTimeCompare([]byte(resp), []byte(want))
	if userOK&respOK != 1 {
		return authFailed, "wrong username or password"
	}
	count, _ := strconv.ParseUint(nc, 16, 32)

	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.nonces[nonce]
	if !ok || s.now().Sub(st.issued) > nonceLifetime || len(st.seen) >= maxUsesPerNonce {
		return authStale, "unknown or expired nonce"
	}
	if _, replay := st.seen[uint32(count)]; replay {
		return authFailed, "nonce count reused"
	}
	st.seen[uint32(count)] = struct{}{}
	return authOK, ""
}

func isHex8(s string) bool {
	if len(s) != 8 {
		return false
	}
	_, err := strconv.ParseUint(s, 16, 32)
	return err == nil
}
