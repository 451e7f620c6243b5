package rfb_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// server builds the bytes a server sends, big-endian as RFB wants.
type server struct{ bytes.Buffer }

func (s *server) u8(v ...uint8) *server { s.Write(v); return s }
func (s *server) u16(v ...uint16) *server {
	for _, x := range v {
		s.Write(binary.BigEndian.AppendUint16(nil, x))
	}
	return s
}
func (s *server) u32(v ...uint32) *server {
	for _, x := range v {
		s.Write(binary.BigEndian.AppendUint32(nil, x))
	}
	return s
}
func (s *server) str(v string) *server { s.u32(uint32(len(v))); s.WriteString(v); return s }

// rect starts a rectangle header.
func (s *server) rect(x, y, w, h uint16, enc int32) *server {
	return s.u16(x, y, w, h).u32(uint32(enc))
}

// update starts a FramebufferUpdate of n rectangles.
func (s *server) update(n uint16) *server { return s.u8(0, 0).u16(n) }

// pixel32 writes a pixel in PixelFormat32 (R, G, B, X).
func (s *server) pixel32(rgb uint32) *server {
	return s.u8(uint8(rgb>>16), uint8(rgb>>8), uint8(rgb), 0)
}

// hello is a 3.8 server with security None and a w×h framebuffer named "test".
func hello(w, h uint16) *server {
	s := &server{}
	s.WriteString("RFB 003.008\n")
	s.u8(1, rfb.SecurityNone).u32(0)
	s.u16(w, h)
	s.Write(rfb.PixelFormat32().Marshal())
	return s.str("test")
}

// pipe is the client's side: reads what the server "sent", records what the client wrote.
type pipe struct {
	io.Reader
	sent bytes.Buffer
}

func (p *pipe) Write(b []byte) (int, error) { return p.sent.Write(b) }

// connect runs the handshake over the bytes of s (handshake and the messages after it).
func connect(t *testing.T, s *server, cfg rfb.Config) (*rfb.Client, *pipe) {
	t.Helper()
	p := &pipe{Reader: bytes.NewReader(s.Bytes())}
	c, err := rfb.NewClient(p, cfg)
	require.NoError(t, err)
	return c, p
}

// zlibChunks compresses each chunk with a sync flush, continuing one stream, as a ZRLE server
// does per rectangle.
func zlibChunks(t testing.TB, chunks ...[]byte) [][]byte {
	t.Helper()
	var out bytes.Buffer
	zw := zlib.NewWriter(&out)
	res := make([][]byte, 0, len(chunks))
	for _, c := range chunks {
		_, err := zw.Write(c)
		require.NoError(t, err)
		require.NoError(t, zw.Flush())
		res = append(res, bytes.Clone(out.Bytes()))
		out.Reset()
	}
	return res
}
