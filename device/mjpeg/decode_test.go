package mjpeg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decoders returns a constructor of every decoder this build has.
func decoders() map[string]func() Decoder {
	ds := map[string]func() Decoder{"std": func() Decoder { return NewStdDecoder() }}
	if d, err := NewTurboDecoder(); err == nil {
		d.Close()
		ds["turbo"] = func() Decoder {
			d, err := NewTurboDecoder()
			if err != nil {
				panic(err) // it worked a moment ago
			}
			return d
		}
	}
	return ds
}

func TestDecodeSamples(t *testing.T) {
	tests := []struct {
		name string
		w, h int
	}{
		{"420", 64, 48},
		{"422", 64, 48},
		{"444", 64, 48},
		{"gray", 64, 48},
		{"420odd", 62, 46},
		{"422odd", 62, 46},
	}
	for dname, newDec := range decoders() {
		for _, tt := range tests {
			t.Run(dname+"/"+tt.name, func(t *testing.T) {
				d := newDec()
				defer d.Close()
				img, err := d.Decode(testdata(t, tt.name))
				require.NoError(t, err)
				require.NoError(t, checkI420(img, tt.w, tt.h))
				if tt.name != "gray" {
					requireBars(t, img)
					return
				}
				c := img.YCbCrAt(10, 40)
				assert.Equal(t, [2]uint8{128, 128}, [2]uint8{c.Cb, c.Cr}, "grayscale chroma is neutral")
			})
		}
	}
}

// TestDecodersAgree: libjpeg-turbo and image/jpeg make the same picture, up to IDCT rounding.
func TestDecodersAgree(t *testing.T) {
	ds := decoders()
	if _, ok := ds["turbo"]; !ok {
		t.Skip("built without libjpeg-turbo")
	}
	for _, name := range []string{"420", "422", "444", "gray", "420odd", "422odd"} {
		t.Run(name, func(t *testing.T) {
			std, turbo := ds["std"](), ds["turbo"]()
			defer std.Close()
			defer turbo.Close()
			a, err := std.Decode(testdata(t, name))
			require.NoError(t, err)
			b, err := turbo.Decode(testdata(t, name))
			require.NoError(t, err)
			require.Equal(t, a.Rect, b.Rect)
			assert.Less(t, meanAbsDiff(a, b), 1.5)
		})
	}
}

// meanAbsDiff compares two frames of one size over all three planes.
func meanAbsDiff(a, b *image.YCbCr) float64 {
	sum, n := 0, 0
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := range h {
		for x := range w {
			ca, cb := a.YCbCrAt(x, y), b.YCbCrAt(x, y)
			sum += absDiff(ca.Y, cb.Y) + absDiff(ca.Cb, cb.Cb) + absDiff(ca.Cr, cb.Cr)
			n += 3
		}
	}
	return float64(sum) / float64(n)
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// TestSubsamplingsAgree: the 4:2:0 made from 4:2:2 and 4:4:4 files is the picture the 4:2:0
// file holds, up to JPEG loss.
func TestSubsamplingsAgree(t *testing.T) {
	d := NewStdDecoder()
	ref, err := d.Decode(testdata(t, "420"))
	require.NoError(t, err)
	ref = clone(ref)
	for _, name := range []string{"422", "444"} {
		img, err := d.Decode(testdata(t, name))
		require.NoError(t, err)
		assert.Less(t, meanAbsDiff(ref, img), 4.0, name)
	}
}

func clone(img *image.YCbCr) *image.YCbCr {
	c := *img
	c.Y, c.Cb, c.Cr = bytes.Clone(img.Y), bytes.Clone(img.Cb), bytes.Clone(img.Cr)
	return &c
}

func TestChromaConversions(t *testing.T) {
	// A 4×4 picture's chroma in each layout, with a stride wider than the plane.
	tests := []struct {
		name   string
		ratio  image.YCbCrSubsampleRatio
		stride int
		plane  []byte
		want   []byte // 2×2
	}{
		{"422", image.YCbCrSubsampleRatio422, 3, []byte{
			10, 20, 0,
			30, 41, 0,
			100, 200, 0,
			0, 0, 0,
		}, []byte{20, 31, 50, 100}},
		{"444", image.YCbCrSubsampleRatio444, 5, []byte{
			1, 2, 3, 4, 0,
			5, 6, 7, 8, 0,
			10, 10, 0, 0, 0,
			10, 10, 0, 255, 0,
		}, []byte{4, 6, 10, 64}},
		{"440", image.YCbCrSubsampleRatio440, 4, []byte{
			1, 2, 3, 4,
			9, 9, 255, 0,
		}, []byte{2, 4, 9, 128}},
		{"411", image.YCbCrSubsampleRatio411, 1, []byte{10, 20, 30, 41}, []byte{15, 15, 36, 36}},
		{"410", image.YCbCrSubsampleRatio410, 1, []byte{7, 9}, []byte{7, 7, 9, 9}},
		{"420", image.YCbCrSubsampleRatio420, 2, []byte{1, 2, 3, 4}, []byte{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &image.YCbCr{
				Y: make([]byte, 16), YStride: 4, Cb: tt.plane, Cr: tt.plane, CStride: tt.stride,
				SubsampleRatio: tt.ratio, Rect: image.Rect(0, 0, 4, 4),
			}
			var c toI420
			out, err := c.convert(src)
			require.NoError(t, err)
			require.NoError(t, checkI420(out, 4, 4))
			got := []byte{out.Cb[0], out.Cb[1], out.Cb[out.CStride], out.Cb[out.CStride+1]}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, []byte{out.Cr[0], out.Cr[1], out.Cr[out.CStride], out.Cr[out.CStride+1]})
		})
	}
}

// TestFrom422 checks the eight-at-a-time averaging against the plain formula on every pair
// of byte values, in rows that are not a multiple of eight long.
func TestFrom422(t *testing.T) {
	const cw = 256 + 5
	src := make([]byte, 2*cw)
	dst := make([]byte, cw)
	for a := range 256 {
		for i := range cw {
			src[i], src[cw+i] = byte(a), byte(i)
		}
		from422(dst, src, cw, cw, 1)
		for i := range cw {
			want := byte((a + int(byte(i)) + 1) / 2)
			if dst[i] != want {
				t.Fatalf("avg(%d, %d) = %d, want %d", a, byte(i), dst[i], want)
			}
		}
	}
}

func TestConvertRejectsShortPlanes(t *testing.T) {
	src := &image.YCbCr{
		Y: make([]byte, 16), YStride: 4, Cb: make([]byte, 3), Cr: make([]byte, 8), CStride: 2,
		SubsampleRatio: image.YCbCrSubsampleRatio422, Rect: image.Rect(0, 0, 4, 4),
	}
	var c toI420
	_, err := c.convert(src)
	require.Error(t, err)
}

// sofOffset finds the frame header of a sample, to forge variants of it.
func sofOffset(t testing.TB, data []byte) int {
	t.Helper()
	i := bytes.Index(data, []byte{0xFF, markerSOF0})
	require.Positive(t, i)
	return i
}

func TestCheckHeader(t *testing.T) {
	sample := testdata(t, "420")
	forge := func(f func(b []byte, sof int)) []byte {
		b := bytes.Clone(sample)
		f(b, sofOffset(t, b))
		return b
	}
	tests := []struct {
		name string
		data []byte
		want error // nil: decodes
	}{
		{"baseline", sample, nil},
		{"progressive", forge(func(b []byte, i int) { b[i+1] = markerSOF2 }), ErrUnsupported},
		{"arithmetic", forge(func(b []byte, i int) { b[i+1] = 0xC9 }), ErrUnsupported},
		{"huge", forge(func(b []byte, i int) {
			binary.BigEndian.PutUint16(b[i+5:], 8000)
			binary.BigEndian.PutUint16(b[i+7:], 8000)
		}), ErrUnsupported},
		{"too wide", forge(func(b []byte, i int) { binary.BigEndian.PutUint16(b[i+7:], 9000) }), ErrUnsupported},
		{"1 pixel", forge(func(b []byte, i int) {
			binary.BigEndian.PutUint16(b[i+5:], 1)
			binary.BigEndian.PutUint16(b[i+7:], 1)
		}), ErrUnsupported},
		{"not a JPEG", []byte("<html>"), errNotJPEG},
		{"truncated header", sample[:sofOffset(t, sample)+4], nil},
		{"empty", nil, errNotJPEG},
	}
	for dname, newDec := range decoders() {
		for _, tt := range tests {
			t.Run(dname+"/"+tt.name, func(t *testing.T) {
				d := newDec()
				defer d.Close()
				img, err := d.Decode(tt.data)
				switch {
				case tt.name == "baseline":
					require.NoError(t, err)
					require.NotNil(t, img)
				case tt.want != nil:
					require.ErrorIs(t, err, tt.want)
				default:
					require.Error(t, err)
				}
			})
		}
	}
}

func TestCMYKRejected(t *testing.T) {
	// SOI, then a frame header with four components.
	b := []byte{0xFF, markerSOI, 0xFF, markerSOF0, 0, 8 + 3*4, 8, 0, 16, 0, 16, 4}
	b = append(b, make([]byte, 12)...)
	b = append(b, 0xFF, markerEOI)
	for dname, newDec := range decoders() {
		d := newDec()
		_, err := d.Decode(b)
		d.Close()
		require.ErrorIs(t, err, ErrUnsupported, dname)
	}
}

func TestCorruptFrameIsAnError(t *testing.T) {
	sample := testdata(t, "422")
	corrupt := bytes.Clone(sample)
	// Wreck the Huffman tables and the scan after the frame header.
	for i := sofOffset(t, corrupt) + 20; i < len(corrupt)-2; i += 3 {
		corrupt[i] = 0xFF
	}
	for dname, newDec := range decoders() {
		d := newDec()
		_, err := d.Decode(corrupt)
		if err == nil {
			// libjpeg-turbo decodes what it can of a damaged scan (a warning, like a
			// browser); the decoder must still be usable.
			_, err = d.Decode(sample)
			require.NoError(t, err, dname)
		} else {
			require.False(t, errors.Is(err, ErrUnsupported), "%s: a corrupt frame is not 'unsupported': %v", dname, err)
		}
		d.Close()
	}
}

// TestDecoderRecovers: a frame that fails to decode does not spoil the next one (it did with
// a reused libjpeg-turbo handle).
func TestDecoderRecovers(t *testing.T) {
	noScan := []byte("\xFF\xD8\xFF\xC0\x00\x11\x08\x00\x30\x00\x40\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xFF\xD9")
	for dname, newDec := range decoders() {
		d := newDec()
		_, err := d.Decode(noScan)
		require.Error(t, err, dname)
		img, err := d.Decode(testdata(t, "420odd"))
		require.NoError(t, err, dname)
		requireBars(t, img)
		d.Close()
	}
}

// FuzzDecode: no input makes a decoder panic, whatever decodes is a valid 4:2:0 frame of even
// size within the limits, and the decoder still decodes a good frame afterwards.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"420", "422", "444", "gray", "420odd", "422odd"} {
		f.Add(testdata(f, name))
	}
	ds := decoders()
	good := testdata(f, "422")
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, newDec := range ds {
			d := newDec()
			img, err := d.Decode(data)
			if err == nil {
				w, h := img.Rect.Dx(), img.Rect.Dy()
				require.NoError(t, checkI420(img, w, h), name)
				require.True(t, w%2 == 0 && h%2 == 0 && w > 0 && h > 0 && w*h <= maxPixels, "%s: %dx%d", name, w, h)
			}
			_, err = d.Decode(good)
			require.NoError(t, err, "%s after %d bytes of fuzz", name, len(data))
			d.Close()
		}
	})
}
