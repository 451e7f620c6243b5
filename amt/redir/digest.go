package redir

import (
	"crypto/md5" //nolint:gosec // AMT's redirection digest is MD5 by protocol.
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// RedirectionURI is the digest uri of the redirection service; HA2 = MD5("POST:" + uri).
const RedirectionURI = "/RedirectionService"

const digestMethod = "POST"

// Challenge is the data of AMT's challenge: AuthenticateSessionReply status 1 with type 3
// (realm, nonce) or 4 (realm, nonce, qop), each a 1-byte length and the bytes.
type Challenge struct {
	Realm, Nonce, QOP string
}

// Encode returns the reply data for auth type t (the qop only with AuthDigest).
func (c Challenge) Encode(t AuthType) ([]byte, error) {
	fields := []string{c.Realm, c.Nonce}
	if t == AuthDigest {
		fields = append(fields, c.QOP)
	}
	return appendFields(nil, fields)
}

// ParseChallenge reads the challenge data of a type-3 or type-4 reply. A missing qop reads
// as empty (amtterm tolerates it too); bytes after the known fields are ignored, as
// MeshCentral and MPS ignore them.
func ParseChallenge(t AuthType, data []byte) (Challenge, error) {
	var c Challenge
	rest := data
	var err error
	if c.Realm, rest, err = readField(rest); err != nil {
		return c, fmt.Errorf("challenge realm: %w", err)
	}
	if c.Nonce, rest, err = readField(rest); err != nil {
		return c, fmt.Errorf("challenge nonce: %w", err)
	}
	if t == AuthDigest && len(rest) > 0 {
		if c.QOP, _, err = readField(rest); err != nil {
			return c, fmt.Errorf("challenge qop: %w", err)
		}
	}
	return c, nil
}

// DigestFields is the data of a digest AuthenticateSession: user, realm, nonce, uri, cnonce,
// nc, response, and with type 4 qop, each a 1-byte length and the bytes. The initial message
// has only User and URI set (the other fields empty) and asks for a challenge.
type DigestFields struct {
	User, Realm, Nonce, URI, CNonce, NC, Response, QOP string
}

// Encode returns the AuthenticateSession data for type t: eight fields for AuthDigest,
// seven (no qop) for AuthDigestNoQOP, as MeshCentral and amtterm send them.
func (d DigestFields) Encode(t AuthType) ([]byte, error) {
	fields := []string{d.User, d.Realm, d.Nonce, d.URI, d.CNonce, d.NC, d.Response}
	if t == AuthDigest {
		fields = append(fields, d.QOP)
	}
	return appendFields(nil, fields)
}

// ParseDigestFields reads AuthenticateSession data of type 3 or 4. Every field must be
// present (an eighth, qop, is optional for type 3) and nothing may follow.
func ParseDigestFields(t AuthType, data []byte) (DigestFields, error) {
	var d DigestFields
	ptrs := []*string{&d.User, &d.Realm, &d.Nonce, &d.URI, &d.CNonce, &d.NC, &d.Response}
	if t == AuthDigest || (t == AuthDigestNoQOP && fieldCount(data) == 8) {
		ptrs = append(ptrs, &d.QOP)
	}
	rest := data
	for i, p := range ptrs {
		var err error
		if *p, rest, err = readField(rest); err != nil {
			return d, fmt.Errorf("digest field %d: %w", i+1, err)
		}
	}
	if len(rest) != 0 {
		return d, protocolErrorf("%d bytes after the digest fields", len(rest))
	}
	return d, nil
}

// fieldCount counts whole length-prefixed fields in data (stopping at a truncated one).
func fieldCount(data []byte) int {
	n := 0
	for len(data) > 0 && int(data[0]) < len(data) {
		data = data[1+int(data[0]):]
		n++
	}
	return n
}

func appendFields(b []byte, fields []string) ([]byte, error) {
	for _, f := range fields {
		if len(f) > 255 {
			return b, fmt.Errorf("digest field of %d bytes exceeds 255: use a shorter user name", len(f))
		}
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

func readField(b []byte) (string, []byte, error) {
	if len(b) == 0 {
		return "", b, protocolErrorf("missing length-prefixed field")
	}
	n := int(b[0])
	if 1+n > len(b) {
		return "", b, protocolErrorf("field of %d bytes with %d left", n, len(b)-1)
	}
	return string(b[1 : 1+n]), b[1+n:], nil
}

// ComputeResponse is the digest of d with password: HA1 = MD5(user:realm:password),
// HA2 = MD5("POST:" + d.URI), and MD5(HA1:nonce:nc:cnonce:qop:HA2) for AuthDigest or
// MD5(HA1:nonce:HA2) for AuthDigestNoQOP, in lowercase hex.
func ComputeResponse(t AuthType, password string, d DigestFields) string {
	return digestHash(t == AuthDigest, digestMethod, password, d)
}

func digestHash(withQOP bool, method, password string, d DigestFields) string {
	ha1 := md5hex(d.User + ":" + d.Realm + ":" + password)
	ha2 := md5hex(method + ":" + d.URI)
	if withQOP {
		return md5hex(ha1 + ":" + d.Nonce + ":" + d.NC + ":" + d.CNonce + ":" + d.QOP + ":" + ha2)
	}
	return md5hex(ha1 + ":" + d.Nonce + ":" + ha2)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // protocol-mandated
	return hex.EncodeToString(sum[:])
}

// digestReply builds the response to challenge c for user/password.
func digestReply(t AuthType, user, password string, c Challenge, cnonce, nc string) DigestFields {
	d := DigestFields{
		User: user, Realm: c.Realm, Nonce: c.Nonce, URI: RedirectionURI,
		CNonce: cnonce, NC: nc,
	}
	if t == AuthDigest {
		d.QOP = c.QOP
	}
	d.Response = ComputeResponse(t, password, d)
	return d
}

// randomHex returns n random bytes in hex (2n characters).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead).
	return hex.EncodeToString(b)
}
