package rfb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// readerBuffer is the read buffer: large enough that a typical rectangle's data is handed out
// without copying, small enough not to matter per connection.
const readerBuffer = 64 << 10

// Reader reads the server's big-endian stream. Decoders get it to read their rectangle's
// data; slices it returns are valid until the next call.
type Reader struct {
	r       *bufio.Reader
	scratch []byte
	n       int64 // bytes read so far
}

func newReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, readerBuffer)}
}

// BytesRead is how many bytes the server sent so far.
func (r *Reader) BytesRead() int64 { return r.n }

// U8 reads one byte.
func (r *Reader) U8() (uint8, error) {
	b, err := r.r.ReadByte()
	if err != nil {
		return 0, unexpected(err)
	}
	r.n++
	return b, nil
}

// U16 reads a big-endian uint16.
func (r *Reader) U16() (uint16, error) {
	b, err := r.Next(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(b), nil
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() (uint32, error) {
	b, err := r.Next(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// Next reads n bytes. The slice is valid until the next read; n must be bounded by the
// caller (a rectangle's size, a checked length), never taken from the wire unchecked.
func (r *Reader) Next(n int) ([]byte, error) {
	if n <= readerBuffer {
		b, err := r.r.Peek(n)
		if err != nil {
			return nil, unexpected(err)
		}
		_, _ = r.r.Discard(n)
		r.n += int64(n)
		return b, nil
	}
	if cap(r.scratch) < n {
		r.scratch = make([]byte, n)
	}
	b := r.scratch[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		return nil, unexpected(err)
	}
	r.n += int64(n)
	return b, nil
}

// Discard skips n bytes without keeping them.
func (r *Reader) Discard(n int64) error {
	for n > 0 {
		step := int(min(n, readerBuffer))
		d, err := r.r.Discard(step)
		r.n += int64(d)
		if err != nil {
			return unexpected(err)
		}
		n -= int64(d)
	}
	return nil
}

// String reads a u32 length and that many bytes of text, up to limit; a longer text is
// skipped (truncated reports it) rather than allocated.
func (r *Reader) String(limit int) (s string, truncated bool, err error) {
	n, err := r.U32()
	if err != nil {
		return "", false, err
	}
	keep := int64(min(int64(n), int64(limit)))
	b, err := r.Next(int(keep))
	if err != nil {
		return "", false, err
	}
	s = string(b)
	if int64(n) > keep {
		if err := r.Discard(int64(n) - keep); err != nil {
			return "", false, err
		}
		return s, true, nil
	}
	return s, false, nil
}

// unexpected turns a clean EOF in the middle of a message into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ProtocolError is a message the server sent that breaks the protocol or this client's limits.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "rfb: server protocol error: " + e.Msg }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}
