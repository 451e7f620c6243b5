package amtrfb

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"time"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// tileSize is AMT's tile: every rectangle is at most this wide and high.
const tileSize = 64

// update answers the pending request: a DesktopSize when the screen's size changed, else
// the requested tiles (those that changed, for an incremental request). An incremental
// request with nothing changed stays pending.
func (s *session) update() error {
	s.cur = s.screen.Snapshot(s.cur)
	if s.cfg.Overlay != nil {
		s.cfg.Overlay(s.cur)
	}
	if size := s.cur.Rect.Size(); size != s.size {
		return s.resized(size)
	}
	if s.shadow == nil || s.shadow.Rect != s.cur.Rect {
		s.shadow = image.NewRGBA(s.cur.Rect)
		s.stride = (s.size.X + tileSize - 1) / tileSize
		s.known = make([]bool, s.stride*((s.size.Y+tileSize-1)/tileSize))
	}
	region := s.region.Intersect(s.cur.Rect)
	var rects []image.Rectangle
	for ty := region.Min.Y / tileSize * tileSize; ty < region.Max.Y; ty += tileSize {
		for tx := region.Min.X / tileSize * tileSize; tx < region.Max.X; tx += tileSize {
			t := image.Rect(tx, ty, tx+tileSize, ty+tileSize).Intersect(region)
			if s.full || !s.known[ty/tileSize*s.stride+tx/tileSize] || !same(s.cur, s.shadow, t) {
				rects = append(rects, t)
			}
		}
	}
	if len(rects) == 0 && !s.full {
		return nil
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		return fmt.Errorf("amtrfb: send update: %w", err)
	}
	_, _ = s.w.Write([]byte{0, 0, byte(len(rects) >> 8), byte(len(rects))})
	for _, t := range rects {
		if err := s.tile(t); err != nil {
			return err
		}
		copyRect(s.shadow, s.cur, t)
		// A tile is known when the client has all of it, not a requested part.
		whole := image.Rect(t.Min.X/tileSize*tileSize, t.Min.Y/tileSize*tileSize, 0, 0)
		whole.Max = whole.Min.Add(image.Pt(tileSize, tileSize))
		if whole.Intersect(s.cur.Rect) == t {
			s.known[t.Min.Y/tileSize*s.stride+t.Min.X/tileSize] = true
		}
	}
	s.pending = false
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("amtrfb: send update: %w", err)
	}
	return nil
}

// resized tells the client the new size with DesktopSize; it answers with a full request.
func (s *session) resized(size image.Point) error {
	if !s.encs.desktopSize {
		return fmt.Errorf("%w: %v to %v", ErrResize, s.size, size)
	}
	if s.cfg.oversize(s.pf, size.X, size.Y) {
		return fmt.Errorf("%w: %dx%d at %d bpp", ErrOversize, size.X, size.Y, s.pf.BitsPerPixel)
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		return fmt.Errorf("amtrfb: send DesktopSize: %w", err)
	}
	_, _ = s.w.Write([]byte{0, 0, 0, 1})
	s.rectHeader(image.Rect(0, 0, size.X, size.Y), rfb.EncodingDesktopSize)
	s.size, s.shadow, s.pending = size, nil, false
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("amtrfb: send DesktopSize: %w", err)
	}
	s.log.Debug("amtrfb: screen resized", "width", size.X, "height", size.Y)
	return nil
}

func (s *session) rectHeader(r image.Rectangle, enc int32) {
	var b [12]byte
	binary.BigEndian.PutUint16(b[0:], uint16(r.Min.X))
	binary.BigEndian.PutUint16(b[2:], uint16(r.Min.Y))
	binary.BigEndian.PutUint16(b[4:], uint16(r.Dx()))
	binary.BigEndian.PutUint16(b[6:], uint16(r.Dy()))
	binary.BigEndian.PutUint32(b[8:], uint32(enc))
	_, _ = s.w.Write(b[:])
}

// tile writes one rectangle of at most 64×64: encoding 16 when the client offered it, RAW
// otherwise.
func (s *session) tile(t image.Rectangle) error {
	if !s.encs.amt16 {
		s.rectHeader(t, rfb.EncodingRaw)
		enc := s.tiles.enc
		px := s.tiles.out[:0]
		for y := t.Min.Y; y < t.Max.Y; y++ {
			o := s.cur.PixOffset(t.Min.X, y)
			for x := range t.Dx() {
				p := s.cur.Pix[o+4*x:]
				px = enc.put(px, enc.value(p[0], p[1], p[2]))
			}
		}
		s.tiles.out = px
		_, _ = s.w.Write(px)
		return nil
	}
	payload, err := s.pay.payload(s.tiles.encode(s.cur, t), s.zlibOn, s.cfg.RawDeflate)
	if err != nil {
		return err
	}
	s.rectHeader(t, rfb.EncodingAMTRLE)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(payload)))
	_, _ = s.w.Write(n[:])
	_, _ = s.w.Write(payload)
	return nil
}

// payloader frames encoding 16's tiles: one deflate stream for the session, each tile ended
// by a sync flush, or with zlib off each tile in a stored block.
type payloader struct {
	zw  flushWriter
	buf bytes.Buffer
	out []byte
}

type flushWriter interface {
	io.Writer
	Flush() error
}

// reset forgets the stream: the next compressed payload starts a new one.
func (p *payloader) reset() { p.zw = nil }

func (p *payloader) payload(tile []byte, compress, raw bool) ([]byte, error) {
	if !compress {
		// BFINAL 0, BTYPE 00, padding: 00; LEN and its complement, little-endian.
		n := uint16(len(tile))
		p.out = binary.LittleEndian.AppendUint16(append(p.out[:0], 0), n)
		p.out = append(binary.LittleEndian.AppendUint16(p.out, ^n), tile...)
		return p.out, nil
	}
	p.buf.Reset()
	if p.zw == nil {
		if raw {
			fw, err := flate.NewWriter(&p.buf, flate.DefaultCompression)
			if err != nil {
				return nil, fmt.Errorf("amtrfb: deflate: %w", err)
			}
			p.zw = fw
		} else {
			p.zw = zlib.NewWriter(&p.buf)
		}
	}
	if _, err := p.zw.Write(tile); err != nil {
		return nil, fmt.Errorf("amtrfb: deflate: %w", err)
	}
	if err := p.zw.Flush(); err != nil {
		return nil, fmt.Errorf("amtrfb: deflate: %w", err)
	}
	return p.buf.Bytes(), nil
}

// same reports whether a and b have the same pixels in r.
func same(a, b *image.RGBA, r image.Rectangle) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := a.PixOffset(r.Min.X, y)
		if !bytes.Equal(a.Pix[o:o+4*r.Dx()], b.Pix[o:o+4*r.Dx()]) {
			return false
		}
	}
	return true
}

func copyRect(dst, src *image.RGBA, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := src.PixOffset(r.Min.X, y)
		copy(dst.Pix[o:o+4*r.Dx()], src.Pix[o:o+4*r.Dx()])
	}
}
