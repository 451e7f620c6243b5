package redir

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	// What a via-MPS client sends: the initial digest with an empty user (3+1+19+4 = 27 bytes)…
	clientInitial = wire(hx("13 00 00 00 04 1b 00 00 00 00 00 00 13"), ascii("/RedirectionService"), hx("00 00 00 00"))
	// …and a response computed from empty credentials (its contents do not matter).
	clientResponse = wire(hx("13 00 00 00 04 0c 00 00 00 00 00 00 00 00 00 00 04"), ascii("junk"))
	// MPS's replacement of the initial digest: user admin, uri, other fields empty.
	mpsInitial = wire(hx("13 00 00 00 04 20 00 00 00 05"), ascii("admin"), hx("00 00 13"), ascii("/RedirectionService"), hx("00 00 00 00"))
	// The device's challenge.
	deviceChallenge = wire(hx("14 01 00 00 04 3e 00 00 00 27"), ascii(tRealm), hx("10"), ascii(tNonce), hx("04"), ascii("auth"))
	// MPS's replacement of the response, with cnonce tCNonce and nc 1: 133 field bytes + 8.
	mpsResponse = wire(hx("13 00 00 00 04 8d 00 00 00"),
		hx("05"), ascii("admin"), hx("27"), ascii(tRealm), hx("10"), ascii(tNonce), hx("13"), ascii("/RedirectionService"),
		hx("0a"), ascii(tCNonce), hx("08"), ascii("00000001"), hx("20"), ascii(tResponse4), hx("04"), ascii("auth"))
	startReply  = hx("11 00 00 00 01 00 02 0b 57 01 00 00 00")
	authSuccess = hx("14 00 00 00 04 00 00 00 00")
	queryReply  = hx("14 00 00 00 00 02 00 00 00 03 04")
)

func TestViaMPSClientInitialBytes(t *testing.T) {
	data, err := DigestFields{URI: RedirectionURI}.Encode(AuthDigest)
	require.NoError(t, err)
	b, err := Encode(AuthenticateSession{Type: AuthDigest, Data: data})
	require.NoError(t, err)
	assert.Equal(t, clientInitial, b)
}

func newTestInterposer() *Interposer {
	ip := NewInterposer("admin", "P@ssw0rd1!")
	ip.cnonce = tCNonce // fixed so that the rewritten response can be written out by hand
	return ip
}

// feed passes b through f in chunks of n bytes (messages do not align with reads).
func feed(t *testing.T, f func([]byte) ([]byte, error), b []byte, n int) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		k := min(n, len(b))
		o, err := f(append([]byte(nil), b[:k]...))
		require.NoError(t, err)
		out = append(out, o...)
		b = b[k:]
	}
	return out
}

func TestInterposerRewritesDigest(t *testing.T) {
	for _, chunk := range []int{1, 3, 1000} {
		ip := newTestInterposer()
		c := func(b []byte) []byte { return feed(t, ip.FromClient, b, chunk) }
		d := func(b []byte) []byte { return feed(t, ip.FromDevice, b, chunk) }

		assert.Equal(t, hx("10 01 00 00 4b 56 4d 52"), c(hx("10 01 00 00 4b 56 4d 52")))
		assert.Equal(t, startReply, d(startReply))
		assert.Equal(t, hx("13 00 00 00 00 00 00 00 00"), c(hx("13 00 00 00 00 00 00 00 00")))
		assert.Equal(t, queryReply, d(queryReply))
		assert.Equal(t, mpsInitial, c(clientInitial), "chunk %d", chunk)
		assert.Equal(t, deviceChallenge, d(deviceChallenge))
		assert.Equal(t, mpsResponse, c(clientResponse), "chunk %d", chunk)
		assert.False(t, ip.Authenticated())
		// Success and the first RFB bytes arrive together: RFB passes unchanged.
		assert.Equal(t, wire(authSuccess, ascii("RFB 003.008\n")), d(wire(authSuccess, ascii("RFB 003.008\n"))))
		assert.True(t, ip.Authenticated())
		assert.Equal(t, hx("40 00 00 00 00 00 00 00 99 98"), c(hx("40 00 00 00 00 00 00 00 99 98")))
		assert.Equal(t, hx("41 00 00 00 00 00 00 00 77"), d(hx("41 00 00 00 00 00 00 00 77")))
	}
}

func TestInterposerNonceCountAdvances(t *testing.T) {
	ip := newTestInterposer()
	feed(t, ip.FromDevice, deviceChallenge, 100)
	first := feed(t, ip.FromClient, clientResponse, 100)
	assert.Equal(t, mpsResponse, first)
	second := feed(t, ip.FromClient, clientResponse, 100)
	d, err := ParseDigestFields(AuthDigest, second[authHeaderLen:])
	require.NoError(t, err)
	assert.Equal(t, "00000002", d.NC)
}

func TestInterposerHoldsWhatMPSHolds(t *testing.T) {
	t.Run("client bytes of another type wait for authentication", func(t *testing.T) {
		ip := newTestInterposer()
		out := feed(t, ip.FromClient, wire(mpsInitial[:0], hx("10 01 00 00 4b 56 4d 52 40 00 00 00 00 00 00 00")), 100)
		assert.Equal(t, hx("10 01 00 00 4b 56 4d 52"), out, "0x40 before authentication is held back")
		assert.Empty(t, feed(t, ip.FromClient, hx("13 00 00 00 00 00 00 00 00"), 100), "everything after it too")
		feed(t, ip.FromDevice, authSuccess, 100)
		assert.Equal(t, hx("40 00 00 00 00 00 00 00 13 00 00 00 00 00 00 00 00 ee"), feed(t, ip.FromClient, hx("ee"), 100),
			"released with the next client bytes")
	})
	t.Run("device bytes of another type are never released", func(t *testing.T) {
		ip := newTestInterposer()
		assert.Empty(t, feed(t, ip.FromDevice, hx("41 00 00 00 00 00 00 00"), 100))
		assert.Empty(t, feed(t, ip.FromDevice, authSuccess, 100))
		assert.False(t, ip.Authenticated())
	})
	t.Run("a refusal is held back", func(t *testing.T) {
		ip := newTestInterposer()
		assert.Empty(t, feed(t, ip.FromDevice, hx("11 02 00 00 00 00 00 00 00 00 00 00 00"), 100))
	})
	t.Run("ForwardRefusal forwards it", func(t *testing.T) {
		ip := newTestInterposer()
		ip.ForwardRefusal = true
		assert.Equal(t, hx("11 02 00 00 00 00 00 00 00 00 00 00 00"), feed(t, ip.FromDevice, hx("11 02 00 00 00 00 00 00 00 00 00 00 00"), 2))
	})
	t.Run("holding is bounded", func(t *testing.T) {
		ip := newTestInterposer()
		_, err := ip.FromClient(make([]byte, maxHeld)) // zeros: type 0x00 is unknown, held
		require.NoError(t, err)
		_, err = ip.FromClient([]byte{0})
		assert.ErrorIs(t, err, ErrProtocol)
	})
	t.Run("oversized auth message", func(t *testing.T) {
		ip := newTestInterposer()
		_, err := ip.FromDevice(hx("14 01 00 00 04 ff ff ff 7f"))
		assert.ErrorIs(t, err, ErrProtocol)
	})
}

func TestInterposerWithoutCredentialsRewritesNothing(t *testing.T) {
	ip := NewInterposer("admin", "")
	feed(t, ip.FromDevice, deviceChallenge, 100)
	assert.Equal(t, clientInitial, feed(t, ip.FromClient, clientInitial, 100))
	assert.Equal(t, clientResponse, feed(t, ip.FromClient, clientResponse, 100))
}

func TestInterposerPassesOtherAuthTypes(t *testing.T) {
	ip := newTestInterposer()
	feed(t, ip.FromDevice, deviceChallenge, 100)
	type3 := wire(hx("13 00 00 00 03 07 00 00 00 00 00 00 00 00 00 00"))
	assert.Equal(t, type3, feed(t, ip.FromClient, type3, 100))
}

func TestInterposerPipeEnds(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		c, mc := net.Pipe()
		md, d := net.Pipe()
		defer c.Close()
		defer d.Close()
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { res <- newTestInterposer().Pipe(ctx, mc, md) }()
		cancel()
		require.ErrorIs(t, <-res, context.Canceled)
		_, err := c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "the client's stream was closed")
	})
	t.Run("client floods before authentication", func(t *testing.T) {
		c, mc := net.Pipe()
		md, d := net.Pipe()
		defer d.Close()
		res := make(chan error, 1)
		go func() { res <- newTestInterposer().Pipe(context.Background(), mc, md) }()
		go func() {
			_, _ = c.Write(make([]byte, maxHeld+1))
			c.Close()
		}()
		require.ErrorIs(t, <-res, ErrProtocol)
	})
}
