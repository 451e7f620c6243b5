package wsman

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServerDigestAttacks sends hand-made Authorization headers. Only a
// complete, correct digest on a live nonce may pass: in particular an empty
// or shortened response (CVE-2017-5689) and an empty username must not.
func TestServerDigestAttacks(t *testing.T) {
	redir := "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService"
	body := string(buildRequest("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", redir, 1, bodyEmpty))
	digest := func(user, password, uri, nonce, nc, cnonce string) string {
		return digestResponse(user, testRealm, password, "POST", uri, nonce, nc, cnonce, "auth")
	}
	// header builds `Digest k="v",…` from pairs; a value starting with '=' is
	// written bare.
	header := func(pairs ...string) string {
		var parts []string
		for i := 0; i+1 < len(pairs); i += 2 {
			v := pairs[i+1]
			if strings.HasPrefix(v, "=") {
				parts = append(parts, pairs[i]+v)
			} else {
				parts = append(parts, pairs[i]+`="`+v+`"`)
			}
		}
		return "Digest " + strings.Join(parts, ", ")
	}
	full := func(nonce string, override map[string]string, drop ...string) string {
		vals := map[string]string{
			"username": testUser, "realm": testRealm, "nonce": nonce, "uri": "/wsman",
			"qop": "auth", "nc": "=00000001", "cnonce": "abcdef",
			"response": digest(testUser, testPassword, "/wsman", nonce, "00000001", "abcdef"),
		}
		for k, v := range override {
			vals[k] = v
		}
		var pairs []string
		for _, k := range []string{"username", "realm", "nonce", "uri", "qop", "nc", "cnonce", "response", "algorithm", "opaque"} {
			v, ok := vals[k]
			if !ok {
				continue
			}
			skip := false
			for _, d := range drop {
				skip = skip || d == k
			}
			if !skip {
				pairs = append(pairs, k, v)
			}
		}
		return header(pairs...)
	}

	tests := []struct {
		name      string
		auth      func(nonce string) []string // Authorization header values
		wantOK    bool
		wantStale bool
	}{
		{"correct, RFC 2617 shape", func(n string) []string { return []string{full(n, nil)} }, true, false},
		{"correct, MPS shape", func(n string) []string {
			return []string{authorization(challenge{realm: testRealm, nonce: n, qop: "auth"}, testUser, testPassword, "POST", "/wsman", "00000001", "abcdef")}
		}, true, false},
		{"correct with algorithm=MD5", func(n string) []string { return []string{full(n, map[string]string{"algorithm": "MD5"})} }, true, false},
		{"empty response", func(n string) []string { return []string{full(n, map[string]string{"response": ""})} }, false, false},
		{"no response", func(n string) []string { return []string{full(n, nil, "response")} }, false, false},
		{"response prefix of 1", func(n string) []string {
			return []string{full(n, map[string]string{"response": digest(testUser, testPassword, "/wsman", n, "00000001", "abcdef")[:1]})}
		}, false, false},
		{"response prefix of 16", func(n string) []string {
			return []string{full(n, map[string]string{"response": digest(testUser, testPassword, "/wsman", n, "00000001", "abcdef")[:16]})}
		}, false, false},
		{"response upper-case hex", func(n string) []string {
			return []string{full(n, map[string]string{"response": strings.ToUpper(digest(testUser, testPassword, "/wsman", n, "00000001", "abcdef"))})}
		}, false, false},
		{"response 32 non-hex", func(n string) []string {
			return []string{full(n, map[string]string{"response": strings.Repeat("z", 32)})}
		}, false, false},
		{"response with trailing byte", func(n string) []string {
			return []string{full(n, map[string]string{"response": digest(testUser, testPassword, "/wsman", n, "00000001", "abcdef") + "0"})}
		}, false, false},
		{"wrong password", func(n string) []string {
			return []string{full(n, map[string]string{"response": digest(testUser, "wrong", "/wsman", n, "00000001", "abcdef")})}
		}, false, false},
		{"empty username, digest computed for it", func(n string) []string {
			return []string{full(n, map[string]string{"username": "", "response": digest("", testPassword, "/wsman", n, "00000001", "abcdef")})}
		}, false, false},
		{"no username", func(n string) []string { return []string{full(n, nil, "username")} }, false, false},
		{"other username, digest computed for it", func(n string) []string {
			return []string{full(n, map[string]string{"username": "root", "response": digest("root", testPassword, "/wsman", n, "00000001", "abcdef")})}
		}, false, false},
		{"wrong realm", func(n string) []string { return []string{full(n, map[string]string{"realm": "Digest:00"})} }, false, false},
		{"uri of another path", func(n string) []string {
			return []string{full(n, map[string]string{"uri": "/index.htm", "response": digest(testUser, testPassword, "/index.htm", n, "00000001", "abcdef")})}
		}, false, false},
		{"no qop (RFC 2069)", func(n string) []string {
			return []string{full(n, map[string]string{"response": digestResponse(testUser, testRealm, testPassword, "POST", "/wsman", n, "", "", "")}, "qop", "nc", "cnonce")}
		}, false, false},
		{"qop auth-int", func(n string) []string { return []string{full(n, map[string]string{"qop": "auth-int"})} }, false, false},
		{"nc not hex", func(n string) []string { return []string{full(n, map[string]string{"nc": "=0000000g"})} }, false, false},
		{"empty cnonce", func(n string) []string {
			return []string{full(n, map[string]string{"cnonce": "", "response": digest(testUser, testPassword, "/wsman", n, "00000001", "")})}
		}, false, false},
		{"algorithm SHA-256", func(n string) []string { return []string{full(n, map[string]string{"algorithm": "SHA-256"})} }, false, false},
		{"empty nonce", func(n string) []string {
			return []string{full("", map[string]string{"response": digest(testUser, testPassword, "/wsman", "", "00000001", "abcdef")})}
		}, false, false},
		{"unknown nonce, right digest: stale", func(string) []string { return []string{full("bm90LWlzc3VlZA==", nil)} }, false, true},
		{"unknown nonce, wrong digest: not stale", func(string) []string {
			return []string{full("bm90LWlzc3VlZA==", map[string]string{"response": digest(testUser, "x", "/wsman", "bm90LWlzc3VlZA==", "00000001", "abcdef")})}
		}, false, false},
		{"two Authorization headers", func(n string) []string { return []string{full(n, nil), full(n, nil)} }, false, false},
		{"Basic", func(string) []string { return []string{"Basic YWRtaW46UEBzc3cwcmQ="} }, false, false},
		{"unterminated quote", func(n string) []string { return []string{`Digest username="admin, realm="` + testRealm} }, false, false},
		{"repeated parameter", func(n string) []string { return []string{full(n, nil) + `, username="root"`} }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, newFakeFirmware())
			nonce := srv.newNonce()
			var req strings.Builder
			req.WriteString("POST /wsman HTTP/1.1\r\nHost: guid:16992\r\n")
			for _, a := range tt.auth(nonce) {
				req.WriteString("Authorization: " + a + "\r\n")
			}
			req.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
			raw, resp, _ := exchange(t, srv, req.String())
			if tt.wantOK {
				assert.Equal(t, 200, resp.StatusCode, raw)
				return
			}
			require.Equal(t, 401, resp.StatusCode)
			m := challengeRE.FindStringSubmatch(raw)
			require.NotNil(t, m, raw)
			assert.Equal(t, strconv.FormatBool(tt.wantStale), m[2])
		})
	}
}

// TestServerNonceReplay: a nonce count is good once; the next one is fine.
func TestServerNonceReplay(t *testing.T) {
	srv := newTestServer(t, newFakeFirmware())
	redir := "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService"
	body := string(buildRequest("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", redir, 1, bodyEmpty))
	nonce := srv.newNonce()
	req := func(nc int) string {
		auth := authorization(challenge{realm: testRealm, nonce: nonce, qop: "auth"}, testUser, testPassword, "POST", "/wsman", fmt.Sprintf("%08x", nc), "abcdef")
		return "POST /wsman HTTP/1.1\r\nAuthorization: " + auth + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	_, resp, _ := exchange(t, srv, req(1))
	assert.Equal(t, 200, resp.StatusCode)
	_, resp, _ = exchange(t, srv, req(1))
	assert.Equal(t, 401, resp.StatusCode)
	_, resp, _ = exchange(t, srv, req(2))
	assert.Equal(t, 200, resp.StatusCode)
}

func TestNewServerRefusesEmptyCredentials(t *testing.T) {
	fw := newFakeFirmware()
	for _, c := range [][3]string{{"", "p", "r"}, {"u", "", "r"}, {"u", "p", ""}} {
		_, err := NewServer(fw, c[0], c[1], c[2])
		assert.Error(t, err)
	}
	_, err := NewServer(nil, "u", "p", "r")
	assert.Error(t, err)
}
