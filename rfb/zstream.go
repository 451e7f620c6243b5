package rfb

import (
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// ZStream is one zlib stream that lasts the whole connection, fed a chunk per rectangle
// (ZRLE, and AMT's encoding 16). The server ends each chunk with a sync flush, so the
// rectangle's pixels can be read out completely from its chunk; input the decompressor has not
// reached yet is kept for the next chunk.
//
// Reads must never ask for more output than the rectangle holds: running past the end of the
// input would leave the decompressor in a permanent error. Decoders read exactly what the
// encoding says comes next, so a chunk's output is bounded by its rectangle.
type ZStream struct {
	in  chunk
	zr  io.ReadCloser
	one [1]byte
}

// ErrZlib is returned when the compressed stream is corrupt or ends early.
var ErrZlib = errors.New("rfb: corrupt zlib stream")

// chunk is the compressed input: an io.ByteReader, so flate reads it byte by byte and never
// ahead of what it needs.
type chunk struct {
	b   []byte
	off int
}

func (c *chunk) Read(p []byte) (int, error) {
	if c.off >= len(c.b) {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, c.b[c.off:])
	c.off += n
	return n, nil
}

func (c *chunk) ReadByte() (byte, error) {
	if c.off >= len(c.b) {
		return 0, io.ErrUnexpectedEOF
	}
	c.off++
	return c.b[c.off-1], nil
}

// Feed reads a chunk of n compressed bytes from r, appended to what is left of the last one.
func (z *ZStream) Feed(r *Reader, n int) error {
	data, err := r.Next(n)
	if err != nil {
		return err
	}
	return z.feed(data, false)
}

// feed appends a chunk. The first chunk of a stream starts it: with a zlib header, or, when
// raw, as bare deflate (AMT with zlib switched on by KvmExtCmd, as MeshCentral reads it).
// Later chunks continue whichever stream was started.
func (z *ZStream) feed(data []byte, raw bool) error {
	left := copy(z.in.b, z.in.b[z.in.off:])
	need := left + len(data)
	if cap(z.in.b) < need {
		b := make([]byte, left, need)
		copy(b, z.in.b[:left])
		z.in.b = b
	}
	z.in.b, z.in.off = z.in.b[:need], 0
	copy(z.in.b[left:], data)
	if z.zr != nil {
		return nil
	}
	if raw {
		z.zr = flate.NewReader(&z.in)
		return nil
	}
	zr, err := zlib.NewReader(&z.in)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrZlib, err)
	}
	z.zr = zr
	return nil
}

// buffered is how many compressed bytes were fed and not yet consumed.
func (z *ZStream) buffered() int { return len(z.in.b) - z.in.off }

// ReadFull fills p with decompressed bytes.
func (z *ZStream) ReadFull(p []byte) error {
	if z.zr == nil {
		return ErrZlib
	}
	if _, err := io.ReadFull(z.zr, p); err != nil {
		return fmt.Errorf("%w: %v", ErrZlib, err)
	}
	return nil
}

// ReadByte reads one decompressed byte.
func (z *ZStream) ReadByte() (byte, error) {
	if err := z.ReadFull(z.one[:]); err != nil {
		return 0, err
	}
	return z.one[0], nil
}

// Reset forgets the stream (the server starts a new one).
func (z *ZStream) Reset() {
	if z.zr != nil {
		_ = z.zr.Close()
	}
	z.zr, z.in = nil, chunk{}
}
