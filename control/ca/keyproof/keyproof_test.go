package keyproof

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSignCheckRoundTripThroughJSON(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	ch := NewChallenge("https://relay.test")
	assert.Len(t, ch.Nonce, NonceSize)
	p, err := Sign(key, [][]byte{{1, 2, 3}}, ch, time.Unix(1_800_000_000, 0), []byte("body"))
	require.NoError(t, err)

	wire, err := json.Marshal(p)
	require.NoError(t, err)
	var got Proof
	require.NoError(t, json.Unmarshal(wire, &got))
	require.NoError(t, CheckSignature(got, &key.PublicKey, []byte("body")))
	require.ErrorIs(t, CheckSignature(got, &key.PublicKey, []byte("other")), ErrInvalid)
	got.Signature = nil
	require.ErrorIs(t, CheckSignature(got, &key.PublicKey, []byte("body")), ErrInvalid)
}

func TestSignNeedsEverything(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	ch := NewChallenge("aud")
	chain := [][]byte{{1}}
	now := time.Unix(1, 0)
	for name, f := range map[string]func() (Proof, error){
		"no key":      func() (Proof, error) { return Sign(nil, chain, ch, now, nil) },
		"no chain":    func() (Proof, error) { return Sign(key, nil, ch, now, nil) },
		"no nonce":    func() (Proof, error) { return Sign(key, chain, Challenge{Audience: "aud"}, now, nil) },
		"no audience": func() (Proof, error) { return Sign(key, chain, Challenge{Nonce: ch.Nonce}, now, nil) },
	} {
		_, err := f()
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
}

// Moving bytes between adjacent fields must change the signed message.
func TestMessageIsUnambiguous(t *testing.T) {
	a := Message(Proof{Audience: "ab", Nonce: []byte("c"), Time: 1}, nil)
	b := Message(Proof{Audience: "a", Nonce: []byte("bc"), Time: 1}, nil)
	assert.False(t, bytes.Equal(a, b))
}
