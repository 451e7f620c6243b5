package mjpeg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const usBoundary = "boundarydonotcross"

// ustreamerPart is one part exactly as ustreamer writes it (without its extra headers): the
// headers, the JPEG, and the boundary line that opens the next part.
func ustreamerPart(jpeg []byte) string {
	return fmt.Sprintf("Content-Type: image/jpeg\r\nContent-Length: %d\r\nX-Timestamp: 1733538000.123456\r\n\r\n%s\r\n--%s\r\n",
		len(jpeg), jpeg, usBoundary)
}

// ustreamerExtraPart is a part with ?extra_headers=1.
func ustreamerExtraPart(jpeg []byte, w, h int) string {
	return fmt.Sprintf("Content-Type: image/jpeg\r\nContent-Length: %d\r\nX-Timestamp: 1733538000.123456\r\n"+
		"X-UStreamer-Online: true\r\nX-UStreamer-Dropped: 0\r\nX-UStreamer-Width: %d\r\nX-UStreamer-Height: %d\r\n"+
		"X-UStreamer-Client-FPS: 30\r\nX-UStreamer-Grab-Time: 1234.500000\r\nX-UStreamer-Encode-Begin-Time: 1234.501000\r\n"+
		"X-UStreamer-Encode-End-Time: 1234.509000\r\nX-UStreamer-Expose-Begin-Time: 1234.509100\r\n"+
		"X-UStreamer-Expose-Cmp-Time: 1234.509100\r\nX-UStreamer-Expose-End-Time: 1234.509200\r\n"+
		"X-UStreamer-Send-Time: 1234.510000\r\nX-UStreamer-Latency: 0.010000\r\n\r\n%s\r\n--%s\r\n",
		len(jpeg), w, h, jpeg, usBoundary)
}

// ustreamerAdvance is a frame in ?advance_headers=1 mode: the JPEG, the boundary, and at once
// the next part's headers, without Content-Length.
func ustreamerAdvance(jpeg []byte) string {
	return fmt.Sprintf("%s\r\n--%s\r\nContent-Type: image/jpeg\r\nX-Timestamp: 1733538000.123456\r\n\r\n", jpeg, usBoundary)
}

// ffmpegPart is one part as ffmpeg's mpjpeg muxer writes it.
func ffmpegPart(jpeg []byte) string {
	return fmt.Sprintf("Content-type: image/jpeg\r\nContent-length: %d\r\n\r\n%s\r\n--ffmpeg\r\n", len(jpeg), jpeg)
}

// readParts reads every part of body and the error that ended it.
func readParts(body, boundary string, maxFrame int) (parts [][]byte, malformed uint64, err error) {
	r := newPartReader(bufio.NewReaderSize(strings.NewReader(body), readBuffer), boundary, maxFrame)
	var buf []byte
	for {
		buf, err = r.next(buf)
		if err != nil {
			return parts, r.malformed.Load(), err
		}
		parts = append(parts, bytes.Clone(buf))
	}
}

func TestPartReader(t *testing.T) {
	a, b := testdata(t, "422"), testdata(t, "420")
	// An EXIF-like APP1 segment holding a thumbnail's end marker must not end the JPEG early.
	exif := append([]byte{0xFF, markerSOI, 0xFF, 0xE1, 0, 8, 'E', 'x', 0xFF, markerEOI, 0, 0}, a[2:]...)
	big := bytes.Repeat([]byte{0xAB}, 5000)
	tests := []struct {
		name      string
		boundary  string
		body      string
		maxFrame  int
		want      [][]byte
		malformed uint64
		err       error
	}{
		{
			name: "ustreamer", boundary: usBoundary,
			body: "--" + usBoundary + "\r\n" + ustreamerPart(a) + ustreamerPart(b),
			want: [][]byte{a, b}, err: io.EOF,
		},
		{
			name: "ustreamer extra headers", boundary: usBoundary,
			body: "--" + usBoundary + "\r\n" + ustreamerExtraPart(a, 64, 48) + ustreamerExtraPart(b, 64, 48),
			want: [][]byte{a, b}, err: io.EOF,
		},
		{
			name: "ustreamer advance headers, no Content-Length", boundary: usBoundary,
			body: "--" + usBoundary + "\r\nContent-Type: image/jpeg\r\nX-Timestamp: 1.0\r\n\r\n" + ustreamerAdvance(a) + ustreamerAdvance(exif),
			want: [][]byte{a, exif}, err: io.ErrUnexpectedEOF,
		},
		{
			name: "ustreamer zero_data parts are skipped", boundary: usBoundary,
			body: "--" + usBoundary + "\r\n" + ustreamerPart(nil) + ustreamerPart(a),
			want: [][]byte{a}, err: io.EOF,
		},
		{
			name: "ffmpeg mpjpeg", boundary: "ffmpeg",
			body: "--ffmpeg\r\n" + ffmpegPart(a) + ffmpegPart(b),
			want: [][]byte{a, b}, err: io.EOF,
		},
		{
			name: "closing boundary", boundary: "ffmpeg",
			body: "--ffmpeg\r\n" + strings.TrimSuffix(ffmpegPart(a), "\r\n") + "--\r\n" + ffmpegPart(b),
			want: [][]byte{a}, err: io.EOF,
		},
		{
			name: "boundary parameter with the dashes in it", boundary: "--myboundary",
			body: "--myboundary\r\nContent-Type: image/jpeg\r\nContent-Length: " + fmt.Sprint(len(a)) + "\r\n\r\n" + string(a) + "\r\n--myboundary\r\n",
			want: [][]byte{a}, err: io.EOF,
		},
		{
			name: "preamble, blank lines and padding", boundary: "ffmpeg",
			body: "This is a multipart stream.\r\n\r\n--ffmpeg  \r\n" + ffmpegPart(a),
			want: [][]byte{a}, err: io.EOF,
		},
		{
			name: "malformed parts are skipped", boundary: "ffmpeg",
			body: "--ffmpeg\r\n" +
				"Content-Length: many\r\n\r\nxx\r\n--ffmpeg\r\n" + // bad length
				"no colon here\r\n\r\n--ffmpeg\r\n" + // bad header line
				"Content-Type: image/jpeg\r\n\r\n<html>not a jpeg</html>\r\n--ffmpeg\r\n" + // not a JPEG
				"--ffmpeg\r\n" + // empty part
				ffmpegPart(a),
			want: [][]byte{a}, malformed: 4, err: io.EOF,
		},
		{
			name: "parts of other types are skipped", boundary: "ffmpeg",
			body: "--ffmpeg\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\r\n--ffmpeg\r\n" +
				"Content-Type: application/json\r\n\r\n{\"a\": 1}\r\n--ffmpeg\r\n" + ffmpegPart(a),
			want: [][]byte{a}, err: io.EOF,
		},
		{
			name: "wrong Content-Length resyncs at the next boundary", boundary: "ffmpeg",
			body: "--ffmpeg\r\nContent-Type: image/jpeg\r\nContent-Length: 10\r\n\r\n" + string(a) + "\r\n--ffmpeg\r\n" + ffmpegPart(b),
			want: [][]byte{a[:10], b}, err: io.EOF,
		},
		{
			name: "oversized part", boundary: "ffmpeg", maxFrame: 4096,
			body: "--ffmpeg\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n" + string(big),
			err:  ErrFrameTooLarge,
		},
		{
			name: "oversized part without Content-Length", boundary: "ffmpeg", maxFrame: 4096,
			body: "--ffmpeg\r\nContent-Type: image/jpeg\r\n\r\n\xFF\xD8\xFF\xDA\x00\x02" + string(big),
			err:  ErrFrameTooLarge,
		},
		{
			name: "oversized header", boundary: "ffmpeg",
			body: "--ffmpeg\r\n" + strings.Repeat("X-Pad: 0123456789abcdef\r\n", 1000) + "\r\n" + string(a),
			err:  errHeaderTooLarge,
		},
		{
			name: "no boundary at all", boundary: "ffmpeg", maxFrame: 4096,
			body: strings.Repeat("garbage without the boundary\r\n", 1000),
			err:  ErrNoBoundary,
		},
		{
			name: "truncated body", boundary: "ffmpeg",
			body: "--ffmpeg\r\n" + ffmpegPart(a)[:100],
			err:  io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.maxFrame == 0 {
				tt.maxFrame = DefaultMaxFrame
			}
			parts, malformed, err := readParts(tt.body, tt.boundary, tt.maxFrame)
			require.ErrorIs(t, err, tt.err)
			require.Equal(t, len(tt.want), len(parts), "parts")
			for i := range parts {
				assert.True(t, bytes.Equal(tt.want[i], parts[i]), "part %d: %d bytes, want %d", i, len(parts[i]), len(tt.want[i]))
			}
			assert.Equal(t, tt.malformed, malformed, "malformed")
		})
	}
}

func TestEndScannerChunks(t *testing.T) {
	for _, name := range []string{"420", "422", "444", "gray"} {
		data := testdata(t, name)
		stream := append(bytes.Clone(data), "\r\n--b\r\n"...)
		for _, chunk := range []int{1, 2, 7, 64, 1 << 20} {
			var s endScanner
			total := 0
			done := false
			for off := 0; off < len(stream) && !done; off += chunk {
				n, d, err := s.feed(stream[off:min(off+chunk, len(stream))])
				require.NoError(t, err)
				total += n
				done = d
			}
			require.True(t, done, "%s in chunks of %d", name, chunk)
			require.Equal(t, len(data), total, "%s in chunks of %d", name, chunk)
		}
	}
}

// FuzzPartReader: no stream makes the reader panic, hang or hold more than its limits.
func FuzzPartReader(f *testing.F) {
	a := testdata(f, "420")
	f.Add("--b\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\nabcd\r\n--b\r\n")
	f.Add("--" + usBoundary + "\r\n" + ustreamerPart(a))
	f.Add("--b\r\nContent-Type: image/jpeg\r\n\r\n" + string(a) + "\r\n--b--\r\n")
	f.Add("--b\r\nContent-Type: image/jpeg\r\n\r\n\xFF\xD8\xFF\xE1\x00\x04\xFF\xD9\xFF\xDA\x00\x02\x12\xFF\x00\xFF\xD0\xFF\xD9")
	f.Add("\r\n--b  \r\nContent-length: -1\r\n\r\n--b\r\n")
	f.Fuzz(func(t *testing.T, body string) {
		const maxFrame = 1 << 12
		r := newPartReader(bufio.NewReaderSize(strings.NewReader(body), readBuffer), "b", maxFrame)
		var buf []byte
		var err error
		for i := 0; err == nil; i++ {
			require.Less(t, i, len(body)+1, "more parts than bytes")
			buf, err = r.next(buf)
			require.LessOrEqual(t, len(buf), maxFrame)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrFrameTooLarge) &&
			!errors.Is(err, ErrNoBoundary) && !errors.Is(err, errHeaderTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzEndScanner: where a JPEG ends does not depend on how its bytes are chunked.
func FuzzEndScanner(f *testing.F) {
	f.Add(testdata(f, "422"), uint8(3))
	f.Add([]byte("\xFF\xD8\xFF\xDA\x00\x02\x12\xFF\x00\xFF\xD0\xFF\xFF\xD9tail"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var whole endScanner
		n, done, err := whole.feed(data)
		var s endScanner
		total := 0
		var cdone bool
		var cerr error
		step := int(chunk) + 1
		for off := 0; off < len(data) && !cdone && cerr == nil; off += step {
			var k int
			k, cdone, cerr = s.feed(data[off:min(off+step, len(data))])
			total += k
		}
		require.Equal(t, done, cdone)
		require.Equal(t, err != nil, cerr != nil)
		require.Equal(t, n, total)
		require.LessOrEqual(t, n, len(data))
	})
}
