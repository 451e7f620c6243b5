package keyproof

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// HeaderName is the HTTP request header that carries a proof: base64url (no padding) of its
// JSON. The agent sends it on its WebSocket upgrade, where TLS may end before the relay.
const HeaderName = "Kvmrelay-Proof"

// WebSocketBody is the body a proof on the agent's WebSocket upgrade covers (a GET has none).
// It ties the proof to that use: a proof made for a renewal (which covers the CSR) never
// opens a connection, and this one never renews.
var WebSocketBody = []byte("kvmrelay-agent-websocket-v1")

// Bounds on a proof in a header: a P-384 device certificate is well under 1 KiB.
const (
	maxHeaderLen = 6 << 10
	maxChainLen  = 2
)

// EncodeHeader returns the header value for p.
func EncodeHeader(p Proof) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("keyproof: encode header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeHeader parses a header value strictly: bounded size, canonical base64url, JSON with
// no unknown fields, one or two certificates. It checks nothing cryptographic.
func DecodeHeader(v string) (Proof, error) {
	if v == "" || len(v) > maxHeaderLen {
		return Proof{}, fmt.Errorf("%w: header empty or oversized", ErrInvalid)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil {
		return Proof{}, fmt.Errorf("%w: header is not base64url", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p Proof
	if err := dec.Decode(&p); err != nil || dec.More() {
		return Proof{}, fmt.Errorf("%w: header is not a proof", ErrInvalid)
	}
	if len(p.Chain) == 0 || len(p.Chain) > maxChainLen {
		return Proof{}, fmt.Errorf("%w: %d certificates", ErrInvalid, len(p.Chain))
	}
	return p, nil
}
