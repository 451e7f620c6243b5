package rfb

import (
	"encoding/binary"
	"image"
	"io"
)

// EncodingAMTRLE is Intel AMT's encoding 16. Intel calls it "RLE"; it shares ZRLE's number
// and tile format but not its framing, so a client offers AMTRLE or ZRLE, never both.
const EncodingAMTRLE int32 = 16

// AMTRLE decodes Intel AMT's encoding 16: every rectangle is one tile of at most 64×64, sent
// as a u32 length and a payload that decodes to one ZRLE tile (CPIXELs as wide as the pixel
// format's bytes: AMT only serves 8 and 16 bpp).
//
// The payload comes in one of three forms, told apart by its bytes, so a switch of AMT's
// compression (KvmExtCmd 4) needs no call here:
//   - a deflate stored block, 00 LEN NLEN (LEN little-endian = payload length − 5) and the
//     tile's bytes: what AMT sends with zlib off. NLEN is not checked, as neither Intel's
//     nor MeshCentral's client checks it;
//   - the start of a zlib stream (78 9C…): the stream lasts until another one starts, each
//     payload ending with a sync flush (Intel's toolkit reads this, AMT's default);
//   - anything else continues the running stream, or starts a bare deflate stream when none
//     runs (MeshCentral inflates AMT's compressed payloads without a zlib header).
//
// A real zlib or deflate stream cannot start a payload with 00 LEN NLEN covering exactly the
// payload: after a sync flush the compressor always ends with an empty stored block.
type AMTRLE struct {
	z    ZStream
	src  sliceSource
	tile [64 * 64 * 4]byte
	pal  [128]uint32
}

// Encoding returns 16.
func (*AMTRLE) Encoding() int32 { return EncodingAMTRLE }

// maxAMTTile is the largest tile AMT sends, and this decoder draws.
const maxAMTTile = 64

// Decode reads one payload and draws its tile into r.
func (d *AMTRLE) Decode(s *DecodeState, r image.Rectangle) error {
	if r.Dx() < 1 || r.Dy() < 1 || r.Dx() > maxAMTTile || r.Dy() > maxAMTTile {
		return protoErr("AMT encoding 16 rectangle of %dx%d (want a tile of 1x1 to 64x64)", r.Dx(), r.Dy())
	}
	n, err := s.R.U32()
	if err != nil {
		return err
	}
	// The largest honest tile is raw (1 + w×h CPIXELs) or a full palette; deflate adds a
	// few bytes. Four times that still bounds what is buffered.
	cp := s.Pixels.CPixelSize()
	limit := 4*(1+128*cp+r.Dx()*r.Dy()*cp) + 1024
	if int64(n) > int64(limit) {
		return protoErr("AMT encoding 16 payload of %d bytes for a %dx%d tile", n, r.Dx(), r.Dy())
	}
	b, err := s.R.Next(int(n))
	if err != nil {
		return err
	}
	switch {
	case storedBlock(b):
		d.src = sliceSource{b: b[5:]}
		return DecodeZRLETile(&d.src, s, r, d.tile[:], &d.pal)
	case zlibHeader(b):
		d.z.Reset()
		if err := d.z.feed(b, false); err != nil {
			return err
		}
	default:
		if err := d.z.feed(b, true); err != nil {
			return err
		}
	}
	if err := DecodeZRLETile(&d.z, s, r, d.tile[:], &d.pal); err != nil {
		return err
	}
	// A tile reads what it needs; input beyond that (at most the sync flush's few bytes
	// from an honest server) waits for the next payload. Junk must not pile up.
	if d.z.buffered() > limit {
		return protoErr("AMT encoding 16 payload carries %d bytes beyond its tile", d.z.buffered())
	}
	return nil
}

// storedBlock reports whether b is exactly one deflate stored block: a header byte with
// BTYPE 00 (BFINAL either way, padding zero) and LEN covering the rest after NLEN.
func storedBlock(b []byte) bool {
	return len(b) > 5 && b[0]&^1 == 0 && int(binary.LittleEndian.Uint16(b[1:])) == len(b)-5
}

// zlibHeader reports whether b starts with a zlib header (RFC 1950: deflate, window at most
// 32 KiB, no preset dictionary, check bits right). As a deflate block header its first byte
// would be a stored block with non-zero padding, which no compressor writes.
func zlibHeader(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0F == 8 && b[0]>>4 <= 7 && b[1]&0x20 == 0 &&
		(uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// sliceSource serves a tile from an uncompressed payload.
type sliceSource struct {
	b   []byte
	off int
}

func (s *sliceSource) ReadByte() (byte, error) {
	if s.off >= len(s.b) {
		return 0, io.ErrUnexpectedEOF
	}
	s.off++
	return s.b[s.off-1], nil
}

func (s *sliceSource) ReadFull(p []byte) error {
	if len(s.b)-s.off < len(p) {
		s.off = len(s.b)
		return io.ErrUnexpectedEOF
	}
	s.off += copy(p, s.b[s.off:])
	return nil
}
