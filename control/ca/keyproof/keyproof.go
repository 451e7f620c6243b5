// Package keyproof is the agent's proof of possession of its device key, for deployments where
// TLS ends at a proxy and the relay never sees the client certificate in a handshake. The
// agent signs a relay-issued nonce, the relay's audience, a timestamp and the SHA-384 of the
// request body with its EC P-384 key; the relay (control/ca.VerifyProof) checks the chain and
// the signature. It imports only the standard library so the agent can share it.
package keyproof

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// NonceSize is the length of relay-issued nonces.
const NonceSize = 32

// ErrInvalid is wrapped by every refusal in this package.
var ErrInvalid = errors.New("keyproof: invalid proof")

// Challenge is what the relay hands out before a proof: a fresh single-use nonce and the
// audience (the relay's public URL) the proof is for.
type Challenge struct {
	Nonce    []byte `json:"nonce"`
	Audience string `json:"aud"`
}

// NewChallenge returns a challenge with a random nonce.
func NewChallenge(audience string) Challenge {
	n := make([]byte, NonceSize)
	_, _ = rand.Read(n) // never fails since Go 1.24; it crashes the program instead
	return Challenge{Nonce: n, Audience: audience}
}

// Proof is sent with the request it authorizes. Chain is DER, leaf first.
type Proof struct {
	Audience  string   `json:"aud"`
	Nonce     []byte   `json:"nonce"`
	Time      int64    `json:"ts"` // Unix seconds
	Chain     [][]byte `json:"chain"`
	Signature []byte   `json:"sig"` // ASN.1 ECDSA over SHA-384 of Message
}

// Sign makes a proof over the challenge and body at time now.
func Sign(key *ecdsa.PrivateKey, chain [][]byte, ch Challenge, now time.Time, body []byte) (Proof, error) {
	if key == nil || len(chain) == 0 || len(ch.Nonce) == 0 || ch.Audience == "" {
		return Proof{}, fmt.Errorf("%w: missing key, chain, nonce or audience", ErrInvalid)
	}
	p := Proof{Audience: ch.Audience, Nonce: ch.Nonce, Time: now.Unix(), Chain: chain}
	digest := sha512.Sum384(Message(p, body))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return Proof{}, fmt.Errorf("keyproof: sign: %w", err)
	}
	p.Signature = sig
	return p, nil
}

// CheckSignature verifies p's signature by pub over body. It checks nothing else.
func CheckSignature(p Proof, pub *ecdsa.PublicKey, body []byte) error {
	if pub == nil || len(p.Signature) == 0 {
		return fmt.Errorf("%w: empty signature", ErrInvalid)
	}
	digest := sha512.Sum384(Message(p, body))
	if !ecdsa.VerifyASN1(pub, digest[:], p.Signature) {
		return fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	return nil
}

// domain separates these signatures from anything else the device key might sign.
const domain = "kvmrelay-keyproof-v1"

// Message is the signed byte string: length-prefixed fields, so no two different proofs
// serialize the same. The body enters as its SHA-384, binding the proof to one request.
func Message(p Proof, body []byte) []byte {
	bodyHash := sha512.Sum384(body)
	var m []byte
	for _, f := range [][]byte{[]byte(domain), []byte(p.Audience), p.Nonce, bodyHash[:]} {
		m = binary.BigEndian.AppendUint32(m, uint32(len(f)))
		m = append(m, f...)
	}
	return binary.BigEndian.AppendUint64(m, uint64(p.Time))
}
