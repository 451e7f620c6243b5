package vnc

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// desktop draws a picture with what a console shows: flat areas, a few windows, text-like
// noise in some of them.
func desktop(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			o := img.PixOffset(x, y)
			c := [3]uint8{40, 60, 90}
			switch {
			case x > w/8 && x < w/2 && y > h/8 && y < h*3/4: // a terminal: text-like noise
				if rng.IntN(4) == 0 {
					c = [3]uint8{220, 220, 220}
				} else {
					c = [3]uint8{0, 0, 0}
				}
			case x > w/2 && y > h/4: // a window with a gradient
				c = [3]uint8{uint8(x), uint8(y), 200}
			}
			copy(img.Pix[o:], c[:])
			img.Pix[o+3] = 255
		}
	}
	return img
}

// session is the bytes of a 3.8 handshake and then updates.
type session struct{ bytes.Buffer }

func newSession(w, h int) *session {
	s := &session{}
	s.WriteString("RFB 003.008\n")
	s.Write([]byte{1, 1, 0, 0, 0, 0})
	s.Write(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, uint16(w)), uint16(h)))
	s.Write(rfb.PixelFormat32().Marshal())
	s.Write([]byte{0, 0, 0, 0})
	return s
}

func (s *session) header(r image.Rectangle, enc int32) {
	s.Write([]byte{0, 0, 0, 1})
	for _, v := range []int{r.Min.X, r.Min.Y, r.Dx(), r.Dy()} {
		s.Write(binary.BigEndian.AppendUint16(nil, uint16(v)))
	}
	s.Write(binary.BigEndian.AppendUint32(nil, uint32(enc)))
}

// raw appends a Raw update of r from img.
func (s *session) raw(img *image.RGBA, r image.Rectangle) {
	s.header(r, rfb.EncodingRaw)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := img.PixOffset(r.Min.X, y)
		s.Write(img.Pix[o : o+4*r.Dx()])
	}
}

// zrle appends a ZRLE update of r from img through zw (solid tiles solid, others raw).
func (s *session) zrle(zw *zlib.Writer, out *bytes.Buffer, img *image.RGBA, r image.Rectangle) {
	for ty := r.Min.Y; ty < r.Max.Y; ty += 64 {
		for tx := r.Min.X; tx < r.Max.X; tx += 64 {
			t := image.Rect(tx, ty, min(tx+64, r.Max.X), min(ty+64, r.Max.Y))
			first := img.Pix[img.PixOffset(tx, ty):][:3]
			solid := true
			var px []byte
			for y := t.Min.Y; y < t.Max.Y; y++ {
				for x := t.Min.X; x < t.Max.X; x++ {
					p := img.Pix[img.PixOffset(x, y):][:3]
					solid = solid && bytes.Equal(p, first)
					px = append(px, p...)
				}
			}
			if solid {
				_, _ = zw.Write(append([]byte{1}, first...))
			} else {
				_, _ = zw.Write(append([]byte{0}, px...))
			}
		}
	}
	_ = zw.Flush()
	s.header(r, rfb.EncodingZRLE)
	s.Write(binary.BigEndian.AppendUint32(nil, uint32(out.Len())))
	s.Write(out.Bytes())
	out.Reset()
}

type readWriter struct {
	io.Reader
	io.Writer
}

// benchUpdates measures what the agent spends per frame: reading and decoding the update,
// converting its damage to I420 and handing out the frame. Updates are made in batches of n
// over one connection (ZRLE's zlib stream continues across them); with prime, the first of
// each batch is read outside the measurement.
func benchUpdates(b *testing.B, w, h, n int, prime bool, add func(s *session, i int)) {
	b.Helper()
	s := newSession(w, h)
	for i := range n {
		add(s, i)
	}
	data := s.Bytes()
	if !prime {
		b.SetBytes(int64(len(data)) / int64(n))
	}
	b.ReportAllocs()
	var client *rfb.Client
	var v *Video
	left := 0
	for b.Loop() {
		if left == 0 {
			b.StopTimer()
			var err error
			client, err = rfb.NewClient(readWriter{bytes.NewReader(data), io.Discard}, rfb.Config{})
			if err != nil {
				b.Fatal(err)
			}
			v = newVideo(client, nil, videoConfig{})
			left = n
			if prime {
				// The first update paints the whole screen; it is not what is measured.
				ev, err := client.ReadMessage()
				if err != nil {
					b.Fatal(err)
				}
				v.apply(ev)
				v.frameLocked(time.Now())
				left--
			}
			b.StartTimer()
		}
		ev, err := client.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		v.apply(ev)
		v.mu.Lock()
		v.frameLocked(time.Now())
		v.mu.Unlock()
		left--
	}
}

// BenchmarkFullUpdate: the whole 1024×768 screen changes (a new window, a mode switch).
func BenchmarkFullUpdate(b *testing.B) {
	full := image.Rect(0, 0, 1024, 768)
	pics := []*image.RGBA{desktop(1024, 768), desktop(1024, 768)}
	copy(pics[1].Pix, pics[0].Pix[4:]) // shifted: every tile differs from the last update
	b.Run("raw", func(b *testing.B) {
		benchUpdates(b, 1024, 768, 8, false, func(s *session, i int) { s.raw(pics[i%2], full) })
	})
	b.Run("zrle", func(b *testing.B) {
		var out bytes.Buffer
		zw := zlib.NewWriter(&out)
		s0 := 0
		benchUpdates(b, 1024, 768, 8, false, func(s *session, i int) {
			if s0 == 0 {
				out.Reset()
				zw.Reset(&out)
			}
			s0++
			s.zrle(zw, &out, pics[i%2], full)
		})
	})
}

// BenchmarkSmallDamage: a 64×16 area changes (a typed character, a blinking caret).
func BenchmarkSmallDamage(b *testing.B) {
	pic := desktop(1024, 768)
	b.Run("raw", func(b *testing.B) {
		benchUpdates(b, 1024, 768, 64, true, func(s *session, i int) {
			if i == 0 {
				s.raw(pic, pic.Rect)
				return
			}
			s.raw(pic, image.Rect(200, 300, 264, 316).Add(image.Pt(i*8, 0)))
		})
	})
}

// BenchmarkConvertI420 converts a whole 1080p picture from RGBA to I420.
func BenchmarkConvertI420(b *testing.B) {
	src := desktop(1920, 1080)
	dst := newI420(1920, 1080)
	b.SetBytes(int64(len(src.Pix)))
	for b.Loop() {
		convertRGBA(dst, src, dst.Rect)
	}
}
