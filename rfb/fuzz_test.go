package rfb_test

import (
	"bytes"
	"testing"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// FuzzHandshake feeds arbitrary server bytes to the handshake: errors, never panics.
func FuzzHandshake(f *testing.F) {
	f.Add(hello(16, 16).Bytes())
	s := &server{}
	s.WriteString("RFB 003.003\n")
	s.u32(2)
	s.Write(make([]byte, 16))
	f.Add(s.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = rfb.NewClient(&pipe{Reader: bytes.NewReader(data)}, rfb.Config{Password: "pw", MaxWidth: 256, MaxHeight: 256})
	})
}

// FuzzMessages feeds arbitrary server messages after a valid handshake, in every pixel format,
// to every decoder: errors, never panics, never writes outside the framebuffer.
func FuzzMessages(f *testing.F) {
	seed := &server{}
	seed.update(3).rect(0, 0, 2, 1, rfb.EncodingRaw).pixel32(red).pixel32(blue)
	seed.rect(0, 0, 4, 4, rfb.EncodingHextile).u8(2|8|16).pixel32(red).u8(1).pixel32(blue).u8(0x11, 0x11)
	seed.rect(1, 1, 0, 0, rfb.EncodingLastRect)
	seed.u8(2).u8(3, 0, 0, 0).str("x")
	f.Add(uint8(0), seed.Bytes())
	z := &server{}
	c := zlibChunks(f, cat([]byte{128}, cpix(red), []byte{3}, cpix(blue), []byte{0}))
	z.update(2).rect(0, 0, 5, 1, rfb.EncodingZRLE).u32(uint32(len(c[0])))
	z.Write(c[0])
	z.rect(2, 2, 2, 2, rfb.EncodingCursor)
	z.Write(make([]byte, 2*2*4+2))
	f.Add(uint8(0), z.Bytes())
	f.Add(uint8(1), []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0, 8, 0, 0, 0, 16})
	f.Fuzz(func(t *testing.T, format uint8, data []byte) {
		formats := []rfb.PixelFormat{rfb.PixelFormat32(), rfb.PixelFormatRGB565(), rfb.PixelFormatRGB332()}
		pf := formats[int(format)%len(formats)]
		s := hello(32, 24)
		s.Write(data)
		cl, err := rfb.NewClient(&pipe{Reader: bytes.NewReader(s.Bytes())}, rfb.Config{PixelFormat: &pf, MaxWidth: 512, MaxHeight: 512})
		if err != nil {
			t.Fatal(err)
		}
		for range 64 {
			if _, err := cl.ReadMessage(); err != nil {
				return
			}
		}
	})
}
