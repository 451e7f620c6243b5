package amtrfb_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/amtrfb"
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 0xFF
	}
	return img
}

var (
	red  = color.RGBA{R: 0xFF, A: 0xFF}
	blue = color.RGBA{B: 0xFF, A: 0xFF}
)

// wire is the test's end of a connection to Serve: it writes client bytes and checks the
// server's bytes exactly.
type wire struct {
	t    *testing.T
	conn net.Conn
	done chan error
}

func serve(t *testing.T, screen amtrfb.Screen, cfg amtrfb.Config) *wire {
	t.Helper()
	client, server := net.Pipe()
	w := &wire{t: t, conn: client, done: make(chan error, 1)}
	go func() { w.done <- amtrfb.Serve(context.Background(), server, screen, cfg) }()
	t.Cleanup(func() { _ = client.Close(); <-w.done })
	require.NoError(t, client.SetDeadline(time.Now().Add(10*time.Second)))
	return w
}

func (w *wire) send(b ...byte) { _, err := w.conn.Write(b); require.NoError(w.t, err) }

func (w *wire) expect(want []byte, what string) {
	w.t.Helper()
	got := make([]byte, len(want))
	_, err := io.ReadFull(w.conn, got)
	require.NoError(w.t, err, what)
	assert.Equal(w.t, want, got, what)
}

// end closes the client's side and returns what Serve returned.
func (w *wire) end() error {
	_ = w.conn.Close()
	err := <-w.done
	w.done <- err
	return err
}

func cutText(text string) []byte {
	return cat([]byte{6, 0, 0, 0}, binary.BigEndian.AppendUint32(nil, uint32(len(text))), []byte(text))
}

func serverCutText(text string) []byte {
	b := cutText(text)
	b[0] = 3
	return b
}

var serverInit2x1 = cat(
	[]byte{0, 2, 0, 1}, // 2×1
	[]byte{16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0}, // RGB565 LE
	[]byte{0, 0, 0, 16}, []byte("Intel(r) AMT KVM"),
)

func handshake(w *wire) {
	w.expect([]byte("RFB 004.000\n"), "version")
	w.send([]byte("RFB 003.008\n")...)
	w.expect([]byte{1, 1}, "security types: None")
	w.send(1)
	w.expect([]byte{0, 0, 0, 0}, "security result")
	w.send(1) // shared
	w.expect(serverInit2x1, "ServerInit")
}

// TestWire drives Serve with client bytes written by hand and checks every byte it answers:
// the handshake, the data channel, KvmExtCmd, a stored-block tile and the client leaving.
func TestWire(t *testing.T) {
	var data [][]byte
	w := serve(t, amtrfb.NewImageScreen(solid(2, 1, red)), amtrfb.Config{
		KvmData: func(p []byte) { data = append(data, bytes.Clone(p)) },
	})
	handshake(w)
	w.send(2, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x21, 0, 0, 0x04, 0x44) // 16 RAW -223 1092
	w.expect(serverCutText("\x00KvmDataChannel\x00"), "the data channel opens")
	w.send(cutText("\x00KvmExtCmd\x00\x03")...)
	w.expect(serverCutText("\x00KvmExtCmd\x00\x03\x01"), "zlib is on")
	w.send(cutText("\x00KvmExtCmd\x00\x04\x00")...)
	w.expect(serverCutText("\x00KvmExtCmd\x00\x04\x00"), "zlib set off")
	w.send(3, 0, 0, 0, 0, 0, 0, 2, 0, 1) // full update
	w.expect([]byte{
		0, 0, 0, 1, // FramebufferUpdate, 1 rectangle
		0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 16, // (0,0) 2×1, encoding 16
		0, 0, 0, 8, // payload length
		0x00, 0x03, 0x00, 0xFC, 0xFF, // stored block of 3 bytes
		0x01, 0x00, 0xF8, // solid red, RGB565 little-endian
	}, "update")
	w.send(cutText("\x00KvmDataChannel\x00")...)   // keep-alive: no answer
	w.send(cutText("\x00KvmDataChannel\x00hi")...) // data: acknowledged
	w.expect(serverCutText("\x00KvmDataChannel\x01"), "data acknowledged")
	w.send(cutText("\x00KvmExtCmd\x00\x02\x03")...)
	w.expect(serverCutText("\x00KvmExtCmd\x00\x02\x03"), "decimation set")
	w.send(cutText("\x00KvmExtCmd\x00\x01")...)
	w.expect(serverCutText("\x00KvmExtCmd\x00\x01\x03\x00"), "decimation on, not decimating")
	require.NoError(t, w.end(), "the client leaving ends the session cleanly")
	assert.Equal(t, [][]byte{[]byte("hi")}, data)
}

// TestWireZlib: with zlib on, the first payload starts a zlib stream and each payload
// inflates, through the one stream, to its tile; an incremental request is answered only
// with the tile that changed, at 8 bpp after SetPixelFormat.
func TestWireZlib(t *testing.T) {
	img := solid(80, 1, red)
	screen := amtrfb.NewImageScreen(img)
	w := serve(t, screen, amtrfb.Config{})
	w.expect([]byte("RFB 004.000\n"), "version")
	w.send([]byte("RFB 003.008\n")...)
	w.expect([]byte{1, 1}, "security types")
	w.send(1)
	w.expect([]byte{0, 0, 0, 0}, "security result")
	w.send(1)
	init := make([]byte, 24+16)
	_, err := io.ReadFull(w.conn, init)
	require.NoError(t, err)
	w.send(0, 0, 0, 0, 8, 8, 0, 1, 0, 7, 0, 7, 0, 3, 5, 2, 0, 0, 0, 0) // RGB332
	w.send(2, 0, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0)
	w.send(3, 0, 0, 0, 0, 0, 0, 80, 0, 1)
	w.expect([]byte{0, 0, 0, 2, 0, 0, 0, 0, 0, 64, 0, 1, 0, 0, 0, 16}, "update of two tiles, the first")
	var pr, pw = io.Pipe()
	zr := make(chan io.ReadCloser, 1)
	go func() { r, _ := zlib.NewReader(pr); zr <- r }()
	payload := func(what string) []byte {
		var n [4]byte
		_, err := io.ReadFull(w.conn, n[:])
		require.NoError(t, err, what)
		b := make([]byte, binary.BigEndian.Uint32(n[:]))
		_, err = io.ReadFull(w.conn, b)
		require.NoError(t, err, what)
		return b
	}
	first := payload("first tile")
	require.Equal(t, []byte{0x78, 0x9C}, first[:2], "the zlib stream starts")
	go func() { _, _ = pw.Write(first) }()
	r := <-zr
	tile := make([]byte, 2)
	_, err = io.ReadFull(r, tile)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x01, 0xE0}, tile, "solid red in RGB332")
	w.expect([]byte{0, 64, 0, 0, 0, 16, 0, 1, 0, 0, 0, 16}, "the second tile, 16×1")
	second := payload("second tile")
	go func() { _, _ = pw.Write(second) }()
	_, err = io.ReadFull(r, tile)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x01, 0xE0}, tile)

	screen.Draw(func(img *image.RGBA) *image.RGBA { img.SetRGBA(70, 0, blue); return nil })
	w.send(3, 1, 0, 0, 0, 0, 0, 80, 0, 1)
	w.expect([]byte{0, 0, 0, 1, 0, 64, 0, 0, 0, 16, 0, 1, 0, 0, 0, 16}, "only the changed tile")
	third := payload("changed tile")
	go func() { _, _ = pw.Write(third) }()
	tile = make([]byte, 5)
	_, err = io.ReadFull(r, tile)
	require.NoError(t, err)
	// Packed palette of 2 (red, blue): 16 pixels, 1 bit each; blue is pixel 6.
	assert.Equal(t, []byte{0x02, 0xE0, 0x03, 0b00000010, 0b00000000}, tile)
	_ = pw.Close()
	_ = r.Close()
	require.NoError(t, w.end())
}
