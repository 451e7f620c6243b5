package keyproof

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeaderRoundTripAndRefusals(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p, err := Sign(key, [][]byte{make([]byte, 700)}, NewChallenge("https://relay.test"), time.Unix(1_800_000_000, 0), WebSocketBody)
	require.NoError(t, err)
	v, err := EncodeHeader(p)
	require.NoError(t, err)
	assert.Less(t, len(v), 2048, "fits comfortably in a request header")
	got, err := DecodeHeader(v)
	require.NoError(t, err)
	require.NoError(t, CheckSignature(got, &key.PublicKey, WebSocketBody))
	assert.ErrorIs(t, CheckSignature(got, &key.PublicKey, []byte("a CSR")), ErrInvalid, "a WebSocket proof covers nothing else")

	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, bad := range map[string]string{
		"empty":          "",
		"oversized":      strings.Repeat("A", maxHeaderLen+1),
		"padded":         v + "=",
		"std alphabet":   strings.NewReplacer("-", "+", "_", "/").Replace(v) + "+/",
		"not JSON":       enc("nope"),
		"unknown field":  enc(`{"aud":"a","nonce":"","ts":1,"chain":["AA=="],"sig":"","x":1}`),
		"trailing data":  enc(`{"chain":["AA=="]} {}`),
		"no certificate": enc(`{"aud":"a","ts":1,"chain":[]}`),
		"three certs":    enc(`{"chain":["AA==","AA==","AA=="]}`),
	} {
		_, err := DecodeHeader(bad)
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
}
