package redir

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func FuzzReadMessage(f *testing.F) {
	for _, seed := range [][]byte{
		hx("10 01 00 00 4b 56 4d 52"), startReply, hx("11 02 00 00"), hx("12 00 00 00"),
		hx("13 00 00 00 00 00 00 00 00"), queryReply, deviceChallenge, mpsResponse, authSuccess,
		hx("40 00 00 00 00 00 00 00"), hx("41 01 02 03 04 05 06 07"), hx("14 01 00 00 04 ff ff ff ff"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMessage(bytes.NewReader(data))
		if err != nil {
			return
		}
		// What was read encodes and reads back to the same message.
		b, err := Encode(m)
		require.NoError(t, err)
		back, err := ReadMessage(bytes.NewReader(b))
		require.NoError(t, err)
		assert.Equal(t, m, back)
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(byte(4), deviceChallenge[authHeaderLen:])
	f.Add(byte(3), hx("01 72 01 6e"))
	f.Add(byte(4), hx("ff 00"))
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		at := AuthType(typ%2 + 3)
		c, err := ParseChallenge(at, data)
		if err != nil {
			return
		}
		b, err := c.Encode(at)
		require.NoError(t, err)
		back, err := ParseChallenge(at, b)
		require.NoError(t, err)
		assert.Equal(t, c, back)
	})
}

func FuzzParseDigestFields(f *testing.F) {
	f.Add(byte(4), mpsResponse[authHeaderLen:])
	f.Add(byte(4), mpsInitial[authHeaderLen:])
	f.Add(byte(3), hx("00 00 00 00 00 00 00"))
	f.Add(byte(3), hx("00 00 00 00 00 00 00 00"))
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		at := AuthType(typ%2 + 3)
		d, err := ParseDigestFields(at, data)
		if err != nil {
			return
		}
		if at == AuthDigestNoQOP {
			d.QOP = "" // an eighth field is tolerated for type 3 but not sent
		}
		b, err := d.Encode(at)
		require.NoError(t, err)
		back, err := ParseDigestFields(at, b)
		require.NoError(t, err)
		assert.Equal(t, d, back)
	})
}

// FuzzInterposer feeds arbitrary bytes in arbitrary chunks to both directions.
func FuzzInterposer(f *testing.F) {
	f.Add([]byte{0x05, 0x03}, wire(hx("10 01 00 00 4b 56 4d 52"), clientInitial, clientResponse, hx("40 00 00 00 00 00 00 00")),
		wire(startReply, queryReply, deviceChallenge, authSuccess, hx("41 00 00 00 00 00 00 00")))
	f.Add([]byte{0x01}, hx("13 00 00 00 04 ff ff ff ff"), hx("11 02 00 00 99"))
	f.Fuzz(func(t *testing.T, chunks, client, device []byte) {
		ip := NewInterposer("admin", "P@ssw0rd1!")
		ip.ForwardRefusal = len(chunks) > 0 && chunks[0]&0x80 != 0
		for i := 0; len(client)+len(device) > 0; i++ {
			n := 1
			if len(chunks) > 0 {
				n = int(chunks[i%len(chunks)]&0x3f) + 1
			}
			var err error
			if i%2 == 0 && len(client) > 0 {
				k := min(n, len(client))
				_, err = ip.FromClient(client[:k])
				client = client[k:]
			} else if len(device) > 0 {
				k := min(n, len(device))
				_, err = ip.FromDevice(device[:k])
				device = device[k:]
			}
			if err != nil {
				return
			}
		}
	})
}

// bytesConn is a net.Conn reading from fixed bytes and discarding writes.
type bytesConn struct {
	r *bytes.Reader
}

func (c *bytesConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *bytesConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServe gives the simulator's server arbitrary client bytes: it must end, never panic,
// and start KVM only for a client that knows the password (the fuzzer cannot guess a nonce
// from Nonce, which is random here).
func FuzzServe(f *testing.F) {
	f.Add(wire(hx("10 01 00 00 4b 56 4d 52"), hx("13 00 00 00 00 00 00 00 00"), clientInitial, clientResponse, hx("40 00 00 00 00 00 00 00")))
	f.Add(wire(hx("10 01 00 00 4b 56 4d 52"), hx("13 00 00 00 04 08 00 00 00 00 00 00 00 00 00 00 00")))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := account
		err := Serve(context.Background(), &bytesConn{r: bytes.NewReader(data)}, cfg)
		assert.Error(t, err, "no forged session may start KVM")
	})
}

// FuzzHandshake gives the client arbitrary device bytes.
func FuzzHandshake(f *testing.F) {
	f.Add(wire(startReply, queryReply, deviceChallenge, authSuccess, hx("41 00 00 00 00 00 00 00"), ascii(rfbVersion)))
	f.Add(wire(startReply, hx("14 00 00 00 00 01 00 00 00 03"), hx("14 01 00 00 03 04 00 00 00 01 72 01 6e"), hx("14 00 00 00 03 00 00 00 00"), hx("41 00 00 00 00 00 00 00")))
	f.Add(hx("11 02 00 00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Handshake(context.Background(), &bytesConn{r: bytes.NewReader(data)}, ClientConfig{User: "admin", Password: "P@ssw0rd1!"})
	})
}
