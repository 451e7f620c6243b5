package mjpeg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"sync/atomic"
)

// Limits on what a stream may make the reader hold.
const (
	// DefaultMaxFrame bounds one JPEG: a 4K frame at high quality is about 2 MiB.
	DefaultMaxFrame = 16 << 20
	// maxHeader bounds one part's header block (ustreamer's extra headers are under 1 KiB).
	maxHeader = 16 << 10
	// readBuffer is the size of the stream's read buffer.
	readBuffer = 64 << 10
)

// Errors that end a stream.
var (
	// ErrFrameTooLarge is returned for a part larger than the frame limit.
	ErrFrameTooLarge = errors.New("mjpeg: frame larger than the limit")
	// ErrNoBoundary is returned when a stream carries no part boundary where one must be.
	ErrNoBoundary = errors.New("mjpeg: no part boundary in the stream")

	errHeaderTooLarge = errors.New("mjpeg: part header too large")
)

// partReader reads the JPEG parts of a multipart/x-mixed-replace body. It accepts what
// ustreamer writes (PiKVM, TinyPilot):
//
//	--boundarydonotcross\r\n
//	Content-Type: image/jpeg\r\n
//	Content-Length: 123456\r\n
//	X-Timestamp: 1700000000.123456\r\n
//	\r\n
//	<JPEG>\r\n
//	--boundarydonotcross\r\n
//
// with or without its X-UStreamer-* extra headers, and without Content-Length (its
// advance_headers mode, which sends a part's headers right after the previous frame); and what
// ffmpeg's mpjpeg muxer writes (boundary "ffmpeg", "Content-type" and "Content-length"). Header
// names are case-insensitive; a part of another type is skipped; a malformed part is skipped
// up to the next boundary line and counted.
type partReader struct {
	br       *bufio.Reader
	boundary []byte // the boundary line without CRLF: "--" + boundary
	alt      []byte // the boundary as given, when a server put the dashes in it
	maxFrame int
	// inPart is true when the boundary line opening the next part was already consumed.
	inPart bool
	// malformed counts parts skipped because their headers or body made no sense.
	malformed atomic.Uint64
}

func newPartReader(br *bufio.Reader, boundary string, maxFrame int) *partReader {
	r := &partReader{br: br, boundary: []byte("--" + boundary), maxFrame: maxFrame}
	if strings.HasPrefix(boundary, "--") {
		r.alt = []byte(boundary)
	}
	return r
}

// next reads the next JPEG into buf (reused, grown up to the frame limit) and returns it.
// It returns io.EOF at the closing boundary or at a clean end of the body.
func (r *partReader) next(buf []byte) ([]byte, error) {
	for {
		if !r.inPart {
			if err := r.skipToBoundary(); err != nil {
				return buf, err
			}
		}
		r.inPart = false
		h, err := r.readHeader()
		if err != nil {
			if errors.Is(err, errMalformed) {
				r.malformed.Add(1)
				continue
			}
			return buf, err
		}
		if h.length > r.maxFrame {
			return buf, fmt.Errorf("%w: a part of %d bytes (limit %d)", ErrFrameTooLarge, h.length, r.maxFrame)
		}
		if h.contentType != "" && !isJPEGType(h.contentType) {
			if h.length > 0 {
				if _, err := r.br.Discard(h.length); err != nil {
					return buf, bodyErr(err)
				}
			}
			continue
		}
		if h.length == 0 {
			continue // ustreamer's zero_data mode: headers only
		}
		if h.length > 0 {
			buf = grow(buf[:0], h.length)
			if _, err := io.ReadFull(r.br, buf); err != nil {
				return buf[:0], bodyErr(err)
			}
			return buf, nil
		}
		buf, err = r.readUntilEOI(buf[:0])
		if errors.Is(err, errMalformed) {
			r.malformed.Add(1)
			continue
		}
		return buf, err
	}
}

var errMalformed = errors.New("malformed part")

type partHeader struct {
	contentType string
	length      int // -1 when absent
}

// skipToBoundary consumes lines up to and including the next boundary line.
func (r *partReader) skipToBoundary() error {
	skipped := 0
	atLineStart := true
	for {
		line, err := r.br.ReadSlice('\n')
		if len(line) > 0 && atLineStart {
			switch r.matchBoundary(line) {
			case boundaryOpen:
				return nil
			case boundaryClose:
				return io.EOF
			}
		}
		skipped += len(line)
		if skipped > r.maxFrame+maxHeader {
			return fmt.Errorf("%w in %d bytes", ErrNoBoundary, skipped)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			atLineStart = false
		case err != nil:
			return err // io.EOF here is the stream ending between parts
		default:
			atLineStart = true
		}
	}
}

type boundaryKind int

const (
	notBoundary boundaryKind = iota
	boundaryOpen
	boundaryClose
)

// matchBoundary reports whether line (with its line end) is a boundary line. Trailing
// whitespace is allowed (RFC 2046 transport padding).
func (r *partReader) matchBoundary(line []byte) boundaryKind {
	line = bytes.TrimRight(line, " \t\r\n")
	for _, b := range [][]byte{r.boundary, r.alt} {
		if len(b) == 0 || !bytes.HasPrefix(line, b) {
			continue
		}
		switch rest := line[len(b):]; {
		case len(rest) == 0:
			return boundaryOpen
		case bytes.Equal(rest, []byte("--")):
			return boundaryClose
		}
	}
	return notBoundary
}

// readHeader reads a part's header block up to its empty line.
func (r *partReader) readHeader() (partHeader, error) {
	h := partHeader{length: -1}
	size := 0
	for {
		line, err := r.br.ReadSlice('\n')
		size += len(line)
		if size > maxHeader || errors.Is(err, bufio.ErrBufferFull) {
			return h, fmt.Errorf("%w: over %d bytes", errHeaderTooLarge, maxHeader)
		}
		if err != nil {
			if size == 0 && errors.Is(err, io.EOF) {
				return h, io.EOF // the stream ended after a boundary, between parts
			}
			return h, bodyErr(err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return h, nil
		}
		switch r.matchBoundary(line) {
		case boundaryOpen:
			// An empty part: this line opens the next one.
			r.inPart = true
			return h, errMalformed
		case boundaryClose:
			return h, io.EOF
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return h, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "content-type":
			h.contentType = string(value)
		case "content-length":
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return h, errMalformed
			}
			h.length = n
		}
	}
}

// readUntilEOI reads a JPEG without Content-Length up to its end-of-image marker.
func (r *partReader) readUntilEOI(buf []byte) ([]byte, error) {
	var s endScanner
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return buf, bodyErr(err)
			}
		}
		chunk, _ := r.br.Peek(r.br.Buffered())
		n, done, err := s.feed(chunk)
		if len(buf)+n > r.maxFrame {
			return buf[:0], fmt.Errorf("%w: a part without Content-Length over %d bytes", ErrFrameTooLarge, r.maxFrame)
		}
		buf = append(buf, chunk[:n]...)
		_, _ = r.br.Discard(n)
		if err != nil {
			return buf[:0], errMalformed
		}
		if done {
			return buf, nil
		}
	}
}

func isJPEGType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "image/jpeg" || mt == "image/jpg" || mt == "image/pjpeg"
}

// bodyErr turns an end of the body in the middle of a part into io.ErrUnexpectedEOF, so that
// only a clean end between parts reads as io.EOF.
func bodyErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// grow returns buf resized to n bytes, reallocating only when its capacity is short.
func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n, n+n/4)
	}
	return buf[:n]
}
