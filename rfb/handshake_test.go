package rfb_test

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// TestVNCAuthResponse checks the DES step against OpenSSL: key "secret12" with each byte's
// bits mirrored (cea6c64ea62e8c4c), challenge 00…0f, `openssl enc -des-ecb -nopad`.
func TestVNCAuthResponse(t *testing.T) {
	challenge, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	for _, pw := range []string{"secret12", "secret12 and more"} {
		got, err := rfb.VNCAuthResponse(pw, challenge)
		require.NoError(t, err)
		assert.Equal(t, "adcd997f8e16fee575e973f93c2b62b4", hex.EncodeToString(got), "password %q", pw)
	}
	short, err := rfb.VNCAuthResponse("pw", challenge)
	require.NoError(t, err)
	padded, err := rfb.VNCAuthResponse("pw\x00\x00\x00\x00\x00\x00", challenge)
	require.NoError(t, err)
	assert.Equal(t, padded, short, "short passwords are zero-padded")
	_, err = rfb.VNCAuthResponse("pw", challenge[:8])
	assert.Error(t, err)
}

func serverInit(s *server) *server {
	s.u16(800, 600)
	s.Write(rfb.PixelFormat32().Marshal())
	return s.str("desk\x1b[31m")
}

func TestHandshake(t *testing.T) {
	challenge := bytes.Repeat([]byte{7}, 16)
	resp, err := rfb.VNCAuthResponse("pw", challenge)
	require.NoError(t, err)
	tests := []struct {
		name     string
		server   func(s *server)
		password string
		version  rfb.Version
		sent     []byte // what the client answers up to ClientInit
		err      error
		errText  string
	}{
		{"3.8 none", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(2, 5, rfb.SecurityNone).u32(0)
		}, "", rfb.Version{3, 8}, []byte("RFB 003.008\n\x01\x01"), nil, ""},
		{"3.7 none has no result", func(s *server) {
			s.WriteString("RFB 003.007\n")
			s.u8(1, rfb.SecurityNone)
		}, "", rfb.Version{3, 7}, []byte("RFB 003.007\n\x01\x01"), nil, ""},
		{"3.3 none", func(s *server) {
			s.WriteString("RFB 003.003\n")
			s.u32(rfb.SecurityNone)
		}, "", rfb.Version{3, 3}, []byte("RFB 003.003\n\x01"), nil, ""},
		{"AMT says 4.0", func(s *server) {
			s.WriteString("RFB 004.000\n")
			s.u8(1, rfb.SecurityNone).u32(0)
		}, "", rfb.Version{3, 8}, []byte("RFB 003.008\n\x01\x01"), nil, ""},
		{"Apple 3.889", func(s *server) {
			s.WriteString("RFB 003.889\n")
			s.u8(1, rfb.SecurityNone).u32(0)
		}, "", rfb.Version{3, 8}, nil, nil, ""},
		{"3.5 is 3.3", func(s *server) {
			s.WriteString("RFB 003.005\n")
			s.u32(rfb.SecurityNone)
		}, "", rfb.Version{3, 3}, nil, nil, ""},
		{"3.8 vnc auth", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(2, rfb.SecurityNone, rfb.SecurityVNCAuth)
			s.Write(challenge)
			s.u32(0)
		}, "pw", rfb.Version{3, 8}, append(append([]byte("RFB 003.008\n\x02"), resp...), 1), nil, ""},
		{"3.3 vnc auth", func(s *server) {
			s.WriteString("RFB 003.003\n")
			s.u32(rfb.SecurityVNCAuth)
			s.Write(challenge)
			s.u32(0)
		}, "pw", rfb.Version{3, 3}, append(append([]byte("RFB 003.003\n"), resp...), 1), nil, ""},
		{"none preferred without password", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(2, rfb.SecurityVNCAuth, rfb.SecurityNone).u32(0)
		}, "", rfb.Version{3, 8}, []byte("RFB 003.008\n\x01\x01"), nil, ""},
		{"wrong password 3.8", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(1, rfb.SecurityVNCAuth)
			s.Write(challenge)
			s.u32(1).str("Authentication failed")
		}, "pw", rfb.Version{}, nil, rfb.ErrAuthFailed, "Authentication failed"},
		{"wrong password 3.3", func(s *server) {
			s.WriteString("RFB 003.003\n")
			s.u32(rfb.SecurityVNCAuth)
			s.Write(challenge)
			s.u32(1)
		}, "pw", rfb.Version{}, nil, rfb.ErrAuthFailed, ""},
		{"password required", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(1, rfb.SecurityVNCAuth)
		}, "", rfb.Version{}, nil, rfb.ErrPasswordRequired, ""},
		{"unsupported security", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(2, 18, 19)
		}, "", rfb.Version{}, nil, rfb.ErrSecurityUnsupported, "[18 19]"},
		{"refused 3.8", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(0).str("Too many security failures")
		}, "", rfb.Version{}, nil, rfb.ErrRefused, "Too many security failures"},
		{"refused 3.3", func(s *server) {
			s.WriteString("RFB 003.003\n")
			s.u32(0).str("go away")
		}, "", rfb.Version{}, nil, rfb.ErrRefused, "go away"},
		{"not rfb", func(s *server) { s.WriteString("SSH-2.0-OpenSSH_9\r\n") }, "", rfb.Version{}, nil, nil, "not an RFB server"},
		{"version 2", func(s *server) { s.WriteString("RFB 002.000\n") }, "", rfb.Version{}, nil, nil, "bad protocol version"},
		{"truncated", func(s *server) { s.WriteString("RFB 003.008\n\x01") }, "", rfb.Version{}, nil, nil, "unexpected EOF"},
		{"huge framebuffer", func(s *server) {
			s.WriteString("RFB 003.008\n")
			s.u8(1, rfb.SecurityNone).u32(0)
			s.u16(65535, 65535)
			s.Write(rfb.PixelFormat32().Marshal())
			s.str("x")
		}, "", rfb.Version{}, nil, nil, "larger than the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &server{}
			tt.server(s)
			if tt.err == nil && tt.errText == "" {
				serverInit(s)
			}
			p := &pipe{Reader: bytes.NewReader(s.Bytes())}
			c, err := rfb.NewClient(p, rfb.Config{Password: tt.password})
			if tt.err != nil || tt.errText != "" {
				require.Error(t, err)
				if tt.err != nil {
					assert.ErrorIs(t, err, tt.err)
				}
				assert.Contains(t, err.Error(), tt.errText)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.version, c.Version())
			assert.Equal(t, "desk[31m", c.Name(), "control characters stripped")
			w, h := c.Size()
			assert.Equal(t, [2]int{800, 600}, [2]int{w, h})
			if tt.sent != nil {
				require.GreaterOrEqual(t, p.sent.Len(), len(tt.sent))
				assert.Equal(t, tt.sent, p.sent.Bytes()[:len(tt.sent)])
			}
			// Then SetPixelFormat (32 bpp) and SetEncodings.
			rest := p.sent.Bytes()[len(p.sent.Bytes())-(20+4+4*8):]
			assert.Equal(t, append([]byte{0, 0, 0, 0}, rfb.PixelFormat32().Marshal()...), rest[:20])
			assert.Equal(t, []byte{2, 0, 0, 8}, rest[20:24])
		})
	}
}

func TestHandshakeLongName(t *testing.T) {
	s := &server{}
	s.WriteString("RFB 003.008\n")
	s.u8(1, rfb.SecurityNone).u32(0)
	s.u16(10, 10)
	s.Write(rfb.PixelFormat32().Marshal())
	s.str(string(bytes.Repeat([]byte("n"), 5000)))
	s.u8(2) // a Bell after the name: the skipped rest of the name must not be read as messages
	c, _ := connect(t, s, rfb.Config{})
	assert.Len(t, c.Name(), 256)
	ev, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, rfb.EventBell, ev.Kind)
	_, err = c.ReadMessage()
	assert.ErrorIs(t, err, io.EOF, "a clean end between messages")
}
