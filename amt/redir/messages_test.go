package redir

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wire builds expected bytes by hand: hex(...) parts and ascii(...) parts, concatenated.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func ascii(s string) []byte { return []byte(s) }

func wire(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

const (
	tRealm  = "Digest:0123456789ABCDEF0123456789ABCDEF"
	tNonce  = "6b9d2d34a1c7b05e"
	tCNonce = "0a1b2c3d4e"
	// MD5 digests computed independently (Python hashlib) for user admin, password
	// "P@ssw0rd1!", tRealm, tNonce, nc 00000001, tCNonce, qop auth, POST:/RedirectionService.
	tResponse4 = "2540c5aede71ebf148e4b7b9cbd62687"
	tResponse3 = "446b449f1a67e86f4119c6796533d801"
)

func TestMessagesByteExact(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want []byte
	}{
		{"start KVM", StartKVM, hx("10 01 00 00 4b 56 4d 52")},
		{"start SOL", StartRedirectionSession{Protocol: ProtocolSOL}, hx("10 00 00 00 53 4f 4c 20")},
		{"start IDER", StartRedirectionSession{Protocol: ProtocolIDER}, hx("10 00 00 00 49 44 45 52")},
		{
			"start reply ok with OEM data",
			StartRedirectionSessionReply{ProtocolVersion: 1, FirmwareVersion: 0x0b02, OEMIANA: 343, OEMData: []byte{0xaa, 0xbb}},
			hx("11 00 00 00  01 00  02 0b  57 01 00 00  02 aa bb"),
		},
		{"start reply ok without OEM data", StartRedirectionSessionReply{OEMIANA: 0x01020304}, hx("11 00 00 00 00 00 00 00 04 03 02 01 00")},
		{"end session", EndRedirectionSession{}, hx("12 00 00 00")},
		{"auth query", AuthenticateSession{Type: AuthQuery}, hx("13 00 00 00 00 00 00 00 00")},
		{"auth query reply", AuthenticateSessionReply{Type: AuthQuery, Data: []byte{1, 3, 4}}, hx("14 00 00 00 00 03 00 00 00 01 03 04")},
		{
			"initial digest (type 4)",
			AuthenticateSession{Type: AuthDigest, Data: wire(hx("05"), ascii("admin"), hx("00 00 13"), ascii("/RedirectionService"), hx("00 00 00 00"))},
			// 5+19 field bytes + 8 length bytes = 32 = 0x20
			wire(hx("13 00 00 00 04 20 00 00 00 05"), ascii("admin"), hx("00 00 13"), ascii("/RedirectionService"), hx("00 00 00 00")),
		},
		{
			"challenge reply",
			AuthenticateSessionReply{Status: AuthStatusFailure, Type: AuthDigest, Data: wire(hx("27"), ascii(tRealm), hx("10"), ascii(tNonce), hx("04"), ascii("auth"))},
			// 39+16+4 + 3 = 62 = 0x3e
			wire(hx("14 01 00 00 04 3e 00 00 00 27"), ascii(tRealm), hx("10"), ascii(tNonce), hx("04"), ascii("auth")),
		},
		{"auth success reply", AuthenticateSessionReply{Type: AuthDigest}, hx("14 00 00 00 04 00 00 00 00")},
		{"KVM start", KVMStart{}, hx("40 00 00 00 00 00 00 00")},
		{"KVM start reply", KVMStartReply{Payload: [7]byte{1, 2, 3, 4, 5, 6, 7}}, hx("41 01 02 03 04 05 06 07")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.msg)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			// Reading consumes exactly the message: what follows is still there.
			r := bytes.NewReader(append(append([]byte{}, tt.want...), "RFB 003.008\n"...))
			m, err := ReadMessage(r)
			require.NoError(t, err)
			assert.Equal(t, tt.msg, m)
			rest, _ := io.ReadAll(r)
			assert.Equal(t, "RFB 003.008\n", string(rest))
		})
	}
}

func TestDigestMessagesByteExact(t *testing.T) {
	d4 := DigestFields{User: "admin", Realm: tRealm, Nonce: tNonce, URI: RedirectionURI, CNonce: tCNonce, NC: "00000001", QOP: "auth"}
	assert.Equal(t, tResponse4, ComputeResponse(AuthDigest, "P@ssw0rd1!", d4))
	d4.Response = tResponse4
	data, err := d4.Encode(AuthDigest)
	require.NoError(t, err)
	want := wire(hx("05"), ascii("admin"), hx("27"), ascii(tRealm), hx("10"), ascii(tNonce), hx("13"), ascii("/RedirectionService"),
		hx("0a"), ascii(tCNonce), hx("08"), ascii("00000001"), hx("20"), ascii(tResponse4), hx("04"), ascii("auth"))
	assert.Equal(t, want, data)
	back, err := ParseDigestFields(AuthDigest, want)
	require.NoError(t, err)
	assert.Equal(t, d4, back)

	d3 := d4
	d3.QOP = ""
	d3.Response = ""
	assert.Equal(t, tResponse3, ComputeResponse(AuthDigestNoQOP, "P@ssw0rd1!", d3), "type 3 ignores nc, cnonce, qop")
	d3.Response = tResponse3
	data, err = d3.Encode(AuthDigestNoQOP)
	require.NoError(t, err)
	want3 := wire(hx("05"), ascii("admin"), hx("27"), ascii(tRealm), hx("10"), ascii(tNonce), hx("13"), ascii("/RedirectionService"),
		hx("0a"), ascii(tCNonce), hx("08"), ascii("00000001"), hx("20"), ascii(tResponse3))
	assert.Equal(t, want3, data, "type 3: seven fields, no qop (MeshCentral)")
	back, err = ParseDigestFields(AuthDigestNoQOP, want3)
	require.NoError(t, err)
	assert.Equal(t, d3, back)

	initial, err := DigestFields{User: "admin", URI: RedirectionURI}.Encode(AuthDigestNoQOP)
	require.NoError(t, err)
	assert.Equal(t, wire(hx("05"), ascii("admin"), hx("00 00 13"), ascii("/RedirectionService"), hx("00 00 00")), initial)

	ch, err := ParseChallenge(AuthDigest, wire(hx("27"), ascii(tRealm), hx("10"), ascii(tNonce), hx("04"), ascii("auth")))
	require.NoError(t, err)
	assert.Equal(t, Challenge{Realm: tRealm, Nonce: tNonce, QOP: "auth"}, ch)
	enc, err := Challenge{Realm: "r", Nonce: "n", QOP: "auth"}.Encode(AuthDigestNoQOP)
	require.NoError(t, err)
	assert.Equal(t, hx("01 72 01 6e"), enc, "type 3 challenge has no qop")
}

// The digest core checked against the RFC examples (RFC 2617 §3.5; RFC 2069 §2.4 as
// corrected in its errata), with method and uri of the RFC.
func TestDigestRFCVectors(t *testing.T) {
	d := DigestFields{User: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", URI: "/dir/index.html",
		NC: "00000001", CNonce: "0a4f113b", QOP: "auth"}
	assert.Equal(t, "6629fae49393a05397450978507c4ef1", digestHash(true, "GET", "Circle Of Life", d))
	assert.Equal(t, "1949323746fe6a43ef61f9606e7febea", digestHash(false, "GET", "CircleOfLife", d))
}

func TestStartReplyRefusalReadsFourBytes(t *testing.T) {
	busy, err := Encode(StartRedirectionSessionReply{Status: StatusBusy})
	require.NoError(t, err)
	assert.Equal(t, hx("11 02 00 00 00 00 00 00 00 00 00 00 00"), busy, "all 13 bytes are written (amtterm reads 13)")

	// MeshCentral reads 4 bytes of a refusal; so does ReadMessage, never waiting for more.
	m, err := ReadMessage(bytes.NewReader(hx("11 02 00 00")))
	require.NoError(t, err)
	assert.Equal(t, StartRedirectionSessionReply{Status: StatusBusy}, m)
}

func TestReadMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		is   error
	}{
		{"empty stream", nil, io.EOF},
		{"unknown type", hx("99 00 00 00 00 00 00 00"), ErrProtocol},
		{"RFB instead of redirection", ascii("RFB 003.008\n"), ErrProtocol},
		{"auth data over the bound", hx("13 00 00 00 04 01 08 00 00"), ErrProtocol}, // 2049 bytes
		{"auth data length 4 GiB", hx("14 01 00 00 04 ff ff ff ff"), ErrProtocol},
		{"truncated header", hx("10 01 00"), io.ErrUnexpectedEOF},
		{"truncated auth data", hx("14 00 00 00 00 03 00 00 00 01"), io.ErrUnexpectedEOF},
		{"truncated OEM data", hx("11 00 00 00 00 00 00 00 00 00 00 00 05 01"), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadMessage(bytes.NewReader(tt.in))
			require.Error(t, err)
			assert.True(t, errors.Is(err, tt.is), "got %v", err)
		})
	}
	// The largest legitimate message is accepted.
	big := append(hx("13 00 00 00 04 00 08 00 00"), make([]byte, MaxAuthDataLen)...)
	m, err := ReadMessage(bytes.NewReader(big))
	require.NoError(t, err)
	assert.Len(t, m.(AuthenticateSession).Data, MaxAuthDataLen)
}

func TestParseErrors(t *testing.T) {
	_, err := ParseChallenge(AuthDigest, hx("05 61 62"))
	assert.ErrorIs(t, err, ErrProtocol)
	_, err = ParseChallenge(AuthDigest, nil)
	assert.ErrorIs(t, err, ErrProtocol)
	c, err := ParseChallenge(AuthDigest, hx("01 72 01 6e"))
	require.NoError(t, err, "a missing qop reads as empty")
	assert.Equal(t, Challenge{Realm: "r", Nonce: "n"}, c)

	_, err = ParseDigestFields(AuthDigest, hx("00 00 00 00 00 00 00"))
	assert.ErrorIs(t, err, ErrProtocol, "type 4 needs eight fields")
	_, err = ParseDigestFields(AuthDigest, hx("00 00 00 00 00 00 00 00 00"))
	assert.ErrorIs(t, err, ErrProtocol, "nothing may follow")
	_, err = ParseDigestFields(AuthDigestNoQOP, hx("00 00 00 00 00 00 00"))
	assert.NoError(t, err)

	_, err = DigestFields{User: strings.Repeat("u", 256)}.Encode(AuthDigest)
	assert.Error(t, err)
	_, err = Encode(AuthenticateSession{Type: AuthDigest, Data: make([]byte, MaxAuthDataLen+1)})
	assert.Error(t, err)
	_, err = Encode(StartRedirectionSessionReply{OEMData: make([]byte, 256)})
	assert.Error(t, err)
}

func TestErrorForStatus(t *testing.T) {
	assert.NoError(t, ErrorForStatus(StatusSuccess))
	assert.ErrorIs(t, ErrorForStatus(StatusBusy), ErrBusy)
	assert.ErrorIs(t, ErrorForStatus(StatusTypeUnknown), ErrUnsupported)
	assert.ErrorIs(t, ErrorForStatus(StatusUnsupported), ErrUnsupported)
	assert.ErrorIs(t, ErrorForStatus(StatusError), ErrRedirectionRefused)
	assert.ErrorIs(t, ErrorForStatus(7), ErrRedirectionRefused)
}
