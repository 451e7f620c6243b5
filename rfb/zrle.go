package rfb

import (
	"encoding/binary"
	"image"
)

// ZRLE is encoding 16 (RFC 6143 §7.7.6): 64×64 tiles, each raw, solid, packed palette or
// run-length encoded, through one zlib stream for the whole connection.
type ZRLE struct {
	z    ZStream
	tile [64 * 64 * 4]byte
	pal  [128]uint32
}

// Encoding returns 16.
func (*ZRLE) Encoding() int32 { return EncodingZRLE }

// Decode reads the compressed chunk and draws its tiles.
func (d *ZRLE) Decode(s *DecodeState, r image.Rectangle) error {
	n, err := s.R.U32()
	if err != nil {
		return err
	}
	// Deflate never grows data by more than a few bytes per 16 KiB block; twice the raw
	// size is far beyond any honest server and still bounds what is buffered.
	if limit := 2*r.Dx()*r.Dy()*s.Pixels.BytesPerPixel() + 4096; int64(n) > int64(limit) {
		return protoErr("ZRLE chunk of %d bytes for a %dx%d rectangle", n, r.Dx(), r.Dy())
	}
	if err := d.z.Feed(s.R, int(n)); err != nil {
		return err
	}
	for ty := r.Min.Y; ty < r.Max.Y; ty += 64 {
		for tx := r.Min.X; tx < r.Max.X; tx += 64 {
			tile := image.Rect(tx, ty, min(tx+64, r.Max.X), min(ty+64, r.Max.Y))
			if err := DecodeZRLETile(&d.z, s, tile, d.tile[:], &d.pal); err != nil {
				return err
			}
		}
	}
	return nil
}

// TileSource is what DecodeZRLETile reads a tile's bytes from: a ZStream, or AMT's
// uncompressed payloads.
type TileSource interface {
	ReadByte() (byte, error)
	// ReadFull fills p or fails.
	ReadFull(p []byte) error
}

// DecodeZRLETile draws one tile (at most 64×64) read from z: the ZRLE tile format, which AMT
// also uses for its own encoding 16. buf holds at least 64×64×4 bytes of scratch.
func DecodeZRLETile(z TileSource, s *DecodeState, tile image.Rectangle, buf []byte, pal *[128]uint32) error {
	if tile.Dx() > 64 || tile.Dy() > 64 || len(buf) < 64*64*4 {
		return protoErr("ZRLE tile %v larger than 64x64", tile)
	}
	cp := s.Pixels.CPixelSize()
	sub, err := z.ReadByte()
	if err != nil {
		return err
	}
	w, h := tile.Dx(), tile.Dy()
	switch {
	case sub == 0: // raw
		b := buf[:w*h*cp]
		if err := z.ReadFull(b); err != nil {
			return err
		}
		for y := range h {
			s.DrawRow(image.Pt(tile.Min.X, tile.Min.Y+y), b[y*w*cp:(y+1)*w*cp], cp)
		}
		return nil
	case sub == 1: // solid
		c, err := readCPixel(z, s, buf)
		if err != nil {
			return err
		}
		s.Fill(tile, c)
		return nil
	case sub >= 2 && sub <= 16: // packed palette
		if err := readPalette(z, s, buf, pal[:sub]); err != nil {
			return err
		}
		bits := 4
		switch {
		case sub == 2:
			bits = 1
		case sub <= 4:
			bits = 2
		}
		stride := (w*bits + 7) / 8
		b := buf[:stride*h]
		if err := z.ReadFull(b); err != nil {
			return err
		}
		mask := byte(1)<<bits - 1
		for y := range h {
			row := b[y*stride:]
			o := s.FB.PixOffset(tile.Min.X, tile.Min.Y+y)
			for x := range w {
				bit := x * bits
				i := (row[bit/8] >> (8 - bits - bit%8)) & mask
				if int(i) >= int(sub) {
					return protoErr("ZRLE palette index %d of %d", i, sub)
				}
				binary.LittleEndian.PutUint32(s.FB.Pix[o+4*x:], pal[i])
			}
		}
		return nil
	case sub == 128: // plain RLE
		return runs(z, tile, s, func() (uint32, error) { return readCPixel(z, s, buf) })
	case sub >= 130: // palette RLE
		n := int(sub) - 128
		if err := readPalette(z, s, buf, pal[:n]); err != nil {
			return err
		}
		return paletteRuns(z, tile, s, pal[:n])
	}
	return protoErr("ZRLE subencoding %d", sub)
}

func readCPixel(z TileSource, s *DecodeState, buf []byte) (uint32, error) {
	cp := s.Pixels.CPixelSize()
	if err := z.ReadFull(buf[:cp]); err != nil {
		return 0, err
	}
	return s.Pixels.Pixel(buf[:cp], cp), nil
}

func readPalette(z TileSource, s *DecodeState, buf []byte, pal []uint32) error {
	cp := s.Pixels.CPixelSize()
	b := buf[:len(pal)*cp]
	if err := z.ReadFull(b); err != nil {
		return err
	}
	for i := range pal {
		pal[i] = s.Pixels.Pixel(b[i*cp:], cp)
	}
	return nil
}

// runLength reads a ZRLE run length: bytes summed while they are 255, plus one. limit bounds
// it (the pixels left in the tile), so a hostile stream cannot spin on 255s forever.
func runLength(z TileSource, limit int) (int, error) {
	n := 1
	for {
		b, err := z.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(b)
		if n > limit {
			return 0, protoErr("ZRLE run of more than %d pixels left in the tile", limit)
		}
		if b != 255 {
			return n, nil
		}
	}
}

// tileWriter hands out the tile's pixels in order.
type tileWriter struct {
	s    *DecodeState
	tile image.Rectangle
	i, n int
}

func (t *tileWriter) put(c uint32, count int) {
	w := t.tile.Dx()
	for count > 0 {
		x, y := t.i%w, t.i/w
		run := min(count, w-x)
		o := t.s.FB.PixOffset(t.tile.Min.X+x, t.tile.Min.Y+y)
		for k := range run {
			binary.LittleEndian.PutUint32(t.s.FB.Pix[o+4*k:], c)
		}
		t.i += run
		count -= run
	}
}

func runs(z TileSource, tile image.Rectangle, s *DecodeState, pixel func() (uint32, error)) error {
	t := tileWriter{s: s, tile: tile, n: tile.Dx() * tile.Dy()}
	for t.i < t.n {
		c, err := pixel()
		if err != nil {
			return err
		}
		n, err := runLength(z, t.n-t.i)
		if err != nil {
			return err
		}
		t.put(c, n)
	}
	return nil
}

func paletteRuns(z TileSource, tile image.Rectangle, s *DecodeState, pal []uint32) error {
	t := tileWriter{s: s, tile: tile, n: tile.Dx() * tile.Dy()}
	for t.i < t.n {
		b, err := z.ReadByte()
		if err != nil {
			return err
		}
		i := int(b & 127)
		if i >= len(pal) {
			return protoErr("ZRLE palette index %d of %d", i, len(pal))
		}
		n := 1
		if b&128 != 0 {
			if n, err = runLength(z, t.n-t.i); err != nil {
				return err
			}
		}
		t.put(pal[i], n)
	}
	return nil
}
