package rfb

import (
	"encoding/binary"
	"image"
)

// Encodings with pixel data this package decodes.
const (
	EncodingRaw      int32 = 0
	EncodingCopyRect int32 = 1
	EncodingHextile  int32 = 5
	EncodingZRLE     int32 = 16
)

// Decoder draws rectangles of one encoding. A decoder may keep state across rectangles of its
// connection (ZRLE's zlib stream), so each Client has its own.
type Decoder interface {
	// Encoding is the number offered in SetEncodings.
	Encoding() int32
	// Decode reads one rectangle's data from s.R and draws it into s.FB within r, which
	// the client has checked lies inside the framebuffer. Malformed data is an error, never
	// a panic or a write outside r.
	Decode(s *DecodeState, r image.Rectangle) error
}

// DefaultDecoders returns fresh decoders of every encoding this package implements, most
// preferred first: ZRLE compresses best of them at modest CPU, Hextile for servers without
// it, CopyRect for moved windows, Raw as the fallback every server has.
func DefaultDecoders() []Decoder {
	return []Decoder{&ZRLE{}, CopyRect{}, Hextile{}, Raw{}}
}

// DecodeState is what a decoder works with.
type DecodeState struct {
	R      *Reader
	Pixels *PixelConverter
	FB     *image.RGBA
}

// Fill paints r with one packed RGBA colour (R | G<<8 | B<<16 | A<<24).
func (s *DecodeState) Fill(r image.Rectangle, rgba uint32) {
	fillRGBA(s.FB, r, rgba)
}

// DrawRow converts the wire pixels in src (each n bytes: the pixel size or the compact
// pixel size) into the framebuffer, starting at p and running right.
func (s *DecodeState) DrawRow(p image.Point, src []byte, n int) {
	o := s.FB.PixOffset(p.X, p.Y)
	w := len(src) / n
	s.Pixels.Row(s.FB.Pix[o:o+4*w], src, n)
}

func fillRGBA(fb *image.RGBA, r image.Rectangle, rgba uint32) {
	r = r.Intersect(fb.Rect)
	if r.Empty() {
		return
	}
	first := fb.Pix[fb.PixOffset(r.Min.X, r.Min.Y):]
	row := first[:4*r.Dx()]
	binary.LittleEndian.PutUint32(row, rgba)
	for filled := 4; filled < len(row); filled *= 2 {
		copy(row[filled:], row[:filled])
	}
	for y := r.Min.Y + 1; y < r.Max.Y; y++ {
		o := fb.PixOffset(r.Min.X, y)
		copy(fb.Pix[o:o+len(row)], row)
	}
}

// copyRGBA copies the rectangle r of src to dst at dp, rows in the order that is safe when
// src and dst are the same picture and the areas overlap.
func copyRGBA(dst, src *image.RGBA, r image.Rectangle, dp image.Point) {
	n := 4 * r.Dx()
	if r.Empty() {
		return
	}
	rows := r.Dy()
	for i := range rows {
		row := i
		if dp.Y > r.Min.Y {
			row = rows - 1 - i
		}
		so := src.PixOffset(r.Min.X, r.Min.Y+row)
		do := dst.PixOffset(dp.X, dp.Y+row)
		copy(dst.Pix[do:do+n], src.Pix[so:so+n])
	}
}

// Raw is encoding 0: the pixels, row by row.
type Raw struct{}

// Encoding returns 0.
func (Raw) Encoding() int32 { return EncodingRaw }

// Decode reads r.Dx()×r.Dy() pixels.
func (Raw) Decode(s *DecodeState, r image.Rectangle) error {
	bpp := s.Pixels.BytesPerPixel()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		b, err := s.R.Next(r.Dx() * bpp)
		if err != nil {
			return err
		}
		s.DrawRow(image.Pt(r.Min.X, y), b, bpp)
	}
	return nil
}

// CopyRect is encoding 1: the rectangle is a copy of another part of the framebuffer.
type CopyRect struct{}

// Encoding returns 1.
func (CopyRect) Encoding() int32 { return EncodingCopyRect }

// Decode reads the source position and copies.
func (CopyRect) Decode(s *DecodeState, r image.Rectangle) error {
	b, err := s.R.Next(4)
	if err != nil {
		return err
	}
	sp := image.Pt(int(binary.BigEndian.Uint16(b)), int(binary.BigEndian.Uint16(b[2:])))
	src := r.Sub(r.Min).Add(sp)
	if !src.In(s.FB.Rect) {
		return protoErr("CopyRect source %v outside the framebuffer", src)
	}
	copyRGBA(s.FB, s.FB, src, r.Min)
	return nil
}
