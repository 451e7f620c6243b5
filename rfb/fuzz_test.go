package rfb_test

import (
	"bytes"
	"image"
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

// FuzzAMTRLE feeds arbitrary encoding-16 payloads, in AMT's pixel formats, to the AMT
// decoder: errors, never panics, never writes outside the tile.
func FuzzAMTRLE(f *testing.F) {
	f.Add(uint8(0), uint8(64), uint8(64), []byte{0, 3, 0, 0xFC, 0xFF, 1, 0x1F, 0})
	f.Add(uint8(1), uint8(64), uint8(64), []byte{0x78, 0x9C, 0x62, 0x64, 0, 0, 0, 0, 0xFF, 0xFF})
	f.Add(uint8(1), uint8(3), uint8(1), []byte{0, 6, 0, 0xF9, 0xFF, 0x82, 0x03, 0xE0, 0x81, 0x01, 0x00})
	for _, c := range zlibChunks(f, []byte{128, 0x00, 0xF8, 3, 0x1F, 0x00, 0}) {
		f.Add(uint8(0), uint8(3), uint8(2), c)
	}
	f.Fuzz(func(t *testing.T, format, w, h uint8, payload []byte) {
		formats := []rfb.PixelFormat{rfb.PixelFormatRGB565(), rfb.PixelFormatRGB332(), rfb.PixelFormatGray8(), rfb.PixelFormatGray4()}
		pf := formats[int(format)%len(formats)]
		s := hello(80, 80)
		// The same payload twice: the second continues whatever stream the first started.
		s.update(2)
		for range 2 {
			s.rect(3, 5, uint16(w), uint16(h), rfb.EncodingAMTRLE).u32(uint32(len(payload)))
			s.Write(payload)
		}
		cl, err := rfb.NewClient(&pipe{Reader: bytes.NewReader(s.Bytes())}, rfb.AMTConfig(pf))
		if err != nil {
			t.Fatal(err)
		}
		before := bytes.Clone(cl.Framebuffer().Pix)
		_, err = cl.ReadMessage()
		fb := cl.Framebuffer()
		tile := image.Rect(3, 5, 3+int(w), 5+int(h))
		for y := range 80 {
			for x := range 80 {
				if image.Pt(x, y).In(tile) {
					continue
				}
				o := fb.PixOffset(x, y)
				if !bytes.Equal(fb.Pix[o:o+4], before[o:o+4]) {
					t.Fatalf("pixel (%d, %d) outside the tile %v changed (err %v)", x, y, tile, err)
				}
			}
		}
	})
}

// FuzzAMTCutText: the extension parsers never panic and agree with the builders.
func FuzzAMTCutText(f *testing.F) {
	f.Add([]byte("\x00KvmDataChannel\x00abc"))
	f.Add([]byte("\x00KvmExtCmd\x00\x01\x02\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if payload, _, ok := rfb.ParseKvmData(b); ok && len(payload) != len(b)-16 {
			t.Fatalf("payload of %d bytes from %d", len(payload), len(b))
		}
		if cmd, vals, ok := rfb.ParseKvmExtCmd(b); ok && !bytes.Equal(rfb.KvmExtCmdText(cmd, vals...), b) {
			t.Fatalf("%q does not round-trip", b)
		}
	})
}
