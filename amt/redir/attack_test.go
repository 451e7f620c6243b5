package redir

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawClient drives Serve byte by byte, as an attacker would.
type rawClient struct {
	t    *testing.T
	conn net.Conn
}

func (c *rawClient) send(m Message) {
	c.t.Helper()
	b, err := Encode(m)
	require.NoError(c.t, err)
	require.NoError(c.t, c.conn.SetWriteDeadline(time.Now().Add(5*time.Second)))
	_, err = c.conn.Write(b)
	require.NoError(c.t, err)
}

func (c *rawClient) reply() AuthenticateSessionReply {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	m, err := ReadMessage(c.conn)
	require.NoError(c.t, err)
	r, ok := m.(AuthenticateSessionReply)
	require.True(c.t, ok, "got %T", m)
	return r
}

func (c *rawClient) digest(t AuthType, d DigestFields) AuthenticateSessionReply {
	c.t.Helper()
	data, err := d.Encode(t)
	require.NoError(c.t, err)
	c.send(AuthenticateSession{Type: t, Data: data})
	return c.reply()
}

// begin starts a session and asks for a challenge; it returns the challenge's nonce.
func (c *rawClient) begin(t AuthType) string {
	c.t.Helper()
	c.send(StartKVM)
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	m, err := ReadMessage(c.conn)
	require.NoError(c.t, err)
	require.Equal(c.t, StartRedirectionSessionReply{OEMIANA: 343}, m)
	c.send(AuthenticateSession{Type: AuthQuery})
	r := c.reply()
	require.Equal(c.t, AuthenticateSessionReply{Data: []byte{3, 4}}, r)
	r = c.digest(t, DigestFields{User: "admin", URI: RedirectionURI})
	require.Equal(c.t, AuthStatusFailure, r.Status)
	ch, err := ParseChallenge(t, r.Data)
	require.NoError(c.t, err)
	require.Equal(c.t, tRealm, ch.Realm)
	return ch.Nonce
}

// good is the response a client knowing the password would send to nonce.
func good(t AuthType, nonce string) DigestFields {
	d := DigestFields{User: "admin", Realm: tRealm, Nonce: nonce, URI: RedirectionURI, CNonce: "c0ffee", NC: "00000001"}
	if t == AuthDigest {
		d.QOP = "auth"
	}
	d.Response = ComputeResponse(t, "P@ssw0rd1!", d)
	return d
}

func counterNonces() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("nonce-%d", n) }
}

// serve runs Serve on one end of a pipe and returns the other end and Serve's result.
func serve(t *testing.T, cfg ServerConfig) (*rawClient, <-chan error) {
	c, s := net.Pipe()
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	res := make(chan error, 1)
	go func() {
		err := Serve(ctx, s, cfg)
		s.Close()
		res <- err
	}()
	return &rawClient{t: t, conn: c}, res
}

// Every forged response must be answered with status 1 and never start KVM. CVE-2017-5689
// was AMT accepting an empty digest; the others are the usual digest mistakes.
func TestServeRejectsAttacks(t *testing.T) {
	tests := []struct {
		name   string
		forge  func(t AuthType, nonce string) DigestFields
		types  []AuthType
		prefix func(c *rawClient, t AuthType, nonce string) // runs before the forged message
	}{
		{name: "empty response (CVE-2017-5689)", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.Response = ""
			return d
		}},
		{name: "response truncated to 16 digits", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.Response = d.Response[:16]
			return d
		}},
		{name: "response of zeros", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.Response = strings.Repeat("0", 32)
			return d
		}},
		{name: "empty user with a digest for it", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.User = ""
			d.Response = ComputeResponse(t, "P@ssw0rd1!", d)
			return d
		}},
		{name: "other user, same password", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.User = "root"
			d.Response = ComputeResponse(t, "P@ssw0rd1!", d)
			return d
		}},
		{name: "wrong password", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.Response = ComputeResponse(t, "guess", d)
			return d
		}},
		{name: "empty nonce echoed, digest for the real nonce", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.Nonce = ""
			return d
		}},
		{name: "empty nonce and empty response", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.Nonce, d.Response = "", ""
			return d
		}},
		{name: "nonce not issued", forge: func(t AuthType, n string) DigestFields { return good(t, "nonce-99") }},
		{name: "nonce of the digest differs from the echo", forge: func(t AuthType, n string) DigestFields {
			d := good(t, "nonce-99")
			d.Nonce = n
			return d
		}},
		{name: "wrong uri", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.URI = "/index.htm"
			d.Response = ComputeResponse(t, "P@ssw0rd1!", d)
			return d
		}},
		{name: "wrong realm", forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.Realm = "Digest:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
			d.Response = ComputeResponse(t, "P@ssw0rd1!", d)
			return d
		}},
		{name: "type 4 without qop, digest computed as type 3", types: []AuthType{AuthDigest}, forge: func(t AuthType, n string) DigestFields {
			d := good(AuthDigestNoQOP, n)
			return d
		}},
		{name: "type 4 without nc and cnonce", types: []AuthType{AuthDigest}, forge: func(t AuthType, n string) DigestFields {
			d := good(t, n)
			d.NC, d.CNonce = "", ""
			d.Response = ComputeResponse(t, "P@ssw0rd1!", d)
			return d
		}},
		{
			name: "replayed nonce: a right answer to a nonce already used",
			prefix: func(c *rawClient, t AuthType, n string) {
				d := good(t, n)
				d.Response = ComputeResponse(t, "guess", d)
				require.Equal(c.t, AuthStatusFailure, c.digest(t, d).Status)
			},
			forge: good,
		},
	}
	for _, tt := range tests {
		types := tt.types
		if types == nil {
			types = []AuthType{AuthDigestNoQOP, AuthDigest}
		}
		for _, at := range types {
			t.Run(fmt.Sprintf("%s/type %d", tt.name, at), func(t *testing.T) {
				cfg := account
				cfg.Nonce = counterNonces()
				cfg.MaxAttempts = 5
				c, res := serve(t, cfg)
				nonce := c.begin(at)
				require.Equal(t, "nonce-1", nonce)
				if tt.prefix != nil {
					tt.prefix(c, at, nonce)
				}
				r := c.digest(at, tt.forge(at, nonce))
				assert.Equal(t, AuthStatusFailure, r.Status, "forged digest must fail")
				assert.Equal(t, at, r.Type)

				// Not authenticated: KVMStart gets no 0x41 (it is dropped) and the session ends
				// with an error, never with KVM started.
				c.send(KVMStart{})
				c.send(EndRedirectionSession{})
				assert.ErrorIs(t, <-res, ErrSessionEnded)
			})
		}
	}
}

// A response captured from one session does not open another (its nonce is new).
func TestServeRejectsReplayAcrossSessions(t *testing.T) {
	c1, res1 := serve(t, account)
	n1 := c1.begin(AuthDigest)
	captured := good(AuthDigest, n1)
	require.Equal(t, AuthStatusSuccess, c1.digest(AuthDigest, captured).Status)
	c1.send(KVMStart{})
	require.NoError(t, c1.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	m, err := ReadMessage(c1.conn)
	require.NoError(t, err)
	assert.Equal(t, KVMStartReply{}, m)
	require.NoError(t, <-res1)

	c2, res2 := serve(t, account)
	n2 := c2.begin(AuthDigest)
	require.NotEqual(t, n1, n2, "nonces are fresh")
	assert.Equal(t, AuthStatusFailure, c2.digest(AuthDigest, captured).Status)
	// The same captured response again: still no.
	assert.Equal(t, AuthStatusFailure, c2.digest(AuthDigest, captured).Status)
	c2.send(EndRedirectionSession{})
	assert.ErrorIs(t, <-res2, ErrSessionEnded)
}

// Types the simulator cannot verify, or did not offer, are answered "not supported".
func TestServeRejectsUnverifiableTypes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		types []byte
		at    AuthType
		data  []byte
	}{
		{"user/password with the right password", []byte{1, 3, 4}, AuthUserPassword, wire(hx("05"), ascii("admin"), hx("0a"), ascii("P@ssw0rd1!"))},
		{"Kerberos", []byte{2, 4}, AuthKerberos, nil},
		{"type 3 when only 4 is offered", []byte{4}, AuthDigestNoQOP, wire(hx("05"), ascii("admin"), hx("00 00 13"), ascii(RedirectionURI), hx("00 00 00"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := account
			cfg.Types = tc.types
			c, res := serve(t, cfg)
			c.send(StartKVM)
			_, err := ReadMessage(c.conn)
			require.NoError(t, err)
			c.send(AuthenticateSession{Type: tc.at, Data: tc.data})
			r := c.reply()
			assert.Equal(t, AuthenticateSessionReply{Status: AuthStatusNotSupported, Type: tc.at}, r)
			c.send(EndRedirectionSession{})
			assert.ErrorIs(t, <-res, ErrSessionEnded)
		})
	}
}

func TestServeBoundsAttempts(t *testing.T) {
	cfg := account
	cfg.MaxAttempts = 3
	c, res := serve(t, cfg)
	n := c.begin(AuthDigest)
	for i := range 3 {
		d := good(AuthDigest, n)
		d.Response = ComputeResponse(AuthDigest, "guess", d)
		r := c.digest(AuthDigest, d)
		require.Equal(t, AuthStatusFailure, r.Status)
		if i < 2 {
			ch, err := ParseChallenge(AuthDigest, r.Data)
			require.NoError(t, err)
			require.NotEqual(t, n, ch.Nonce, "a fresh nonce after each failure")
			n = ch.Nonce
		}
	}
	assert.ErrorIs(t, <-res, ErrTooManyAttempts)
}

func TestServeProtocolErrors(t *testing.T) {
	t.Run("unknown message ends the session", func(t *testing.T) {
		c, res := serve(t, account)
		c.begin(AuthDigest)
		_, _ = c.conn.Write(hx("77 00 00 00")) // the server stops reading after the first byte
		assert.ErrorIs(t, <-res, ErrProtocol)
	})
	t.Run("not a start message first", func(t *testing.T) {
		c, res := serve(t, account)
		c.send(AuthenticateSession{Type: AuthQuery})
		assert.ErrorIs(t, <-res, ErrProtocol)
	})
	t.Run("SOL is unsupported, unknown protocols unknown", func(t *testing.T) {
		for proto, status := range map[[4]byte]byte{ProtocolSOL: StatusUnsupported, ProtocolIDER: StatusUnsupported, {'X', 'X', 'X', 'X'}: StatusTypeUnknown} {
			c, res := serve(t, account)
			c.send(StartRedirectionSession{Protocol: proto})
			m, err := ReadMessage(c.conn)
			require.NoError(t, err)
			assert.Equal(t, status, m.(StartRedirectionSessionReply).Status)
			c.conn.Close()
			assert.ErrorIs(t, <-res, ErrUnsupported)
		}
	})
	t.Run("message budget", func(t *testing.T) {
		c, res := serve(t, account)
		c.send(StartKVM)
		_, err := ReadMessage(c.conn)
		require.NoError(t, err)
		for range maxServerMessages {
			c.send(KVMStart{}) // dropped before authentication
		}
		assert.ErrorIs(t, <-res, ErrProtocol)
	})
}
