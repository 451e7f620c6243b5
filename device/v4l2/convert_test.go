package v4l2

import (
	"image"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rows returns a plane's rows, for comparing with expected values.
func rows(p []byte, stride, w, h int) [][]byte {
	out := make([][]byte, h)
	for r := range out {
		out[r] = p[r*stride : r*stride+w]
	}
	return out
}

func TestYUYVKnownValues(t *testing.T) {
	// 4×2 YUYV with a padded stride of 10: luma 1…8, chroma averaged over the two rows.
	src := []byte{
		1, 100, 2, 200, 3, 50, 4, 60, 0xEE, 0xEE,
		5, 102, 6, 202, 7, 53, 8, 61, 0xEE, 0xEE,
	}
	for _, conv := range []struct {
		name string
		fn   func(*image.YCbCr, []byte, int) error
	}{
		{"specialised", yuyvToI420},
		{"generic", func(d *image.YCbCr, s []byte, st int) error { return packed422ToI420(d, s, st, orderYUYV) }},
	} {
		t.Run(conv.name, func(t *testing.T) {
			dst := newI420(nil, 4, 2)
			require.NoError(t, conv.fn(dst, src, 10))
			assert.Equal(t, [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}, rows(dst.Y, dst.YStride, 4, 2))
			assert.Equal(t, []byte{101, 52}, dst.Cb[:2]) // (100+102+1)/2, (50+53+1)/2
			assert.Equal(t, []byte{201, 61}, dst.Cr[:2]) // (200+202+1)/2, (60+61+1)/2
		})
	}
}

func TestUYVYKnownValues(t *testing.T) {
	src := []byte{
		100, 1, 200, 2, 50, 3, 60, 4,
		102, 5, 202, 6, 53, 7, 61, 8,
	}
	dst := newI420(nil, 4, 2)
	require.NoError(t, packed422ToI420(dst, src, 8, orderUYVY))
	assert.Equal(t, [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}, rows(dst.Y, dst.YStride, 4, 2))
	assert.Equal(t, []byte{101, 52}, dst.Cb[:2])
	assert.Equal(t, []byte{201, 61}, dst.Cr[:2])
}

func TestPackedOddSize(t *testing.T) {
	// 3×3: the last macropixel's second pixel and the last row's missing partner are ignored
	// and repeated as the format demands.
	src := []byte{
		10, 100, 11, 200, 12, 110, 99, 210,
		20, 102, 21, 202, 22, 112, 99, 212,
		30, 104, 31, 204, 32, 114, 99, 214,
	}
	dst := newI420(nil, 3, 3)
	require.NoError(t, yuyvToI420(dst, src, 8))
	assert.Equal(t, [][]byte{{10, 11, 12}, {20, 21, 22}, {30, 31, 32}}, rows(dst.Y, dst.YStride, 3, 3))
	assert.Equal(t, [][]byte{{101, 111}, {104, 114}}, rows(dst.Cb, dst.CStride, 2, 2))
	assert.Equal(t, [][]byte{{201, 211}, {204, 214}}, rows(dst.Cr, dst.CStride, 2, 2))
}

func TestNV12KnownValues(t *testing.T) {
	y := []byte{1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0} // stride 6
	uv := []byte{100, 200, 50, 60, 0, 0}
	dst := newI420(nil, 4, 2)
	require.NoError(t, nv12ToI420(dst, y, 6, uv, 6))
	assert.Equal(t, [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}, rows(dst.Y, dst.YStride, 4, 2))
	assert.Equal(t, []byte{100, 50}, dst.Cb[:2])
	assert.Equal(t, []byte{200, 60}, dst.Cr[:2])
}

func TestLayoutSinglePlaneOffsets(t *testing.T) {
	// NV12 and I420 in one buffer: the chroma starts after all luma lines of the stride.
	nv12 := layout{fcc: fccNV12, w: 2, h: 2, planes: 1, stride: [3]int{4}}
	img, err := nv12.toI420(nil, [][]byte{{1, 2, 0, 0, 3, 4, 0, 0, 77, 88, 0, 0}})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{1, 2}, {3, 4}}, rows(img.Y, img.YStride, 2, 2))
	assert.Equal(t, []byte{77}, img.Cb[:1])
	assert.Equal(t, []byte{88}, img.Cr[:1])

	i420 := layout{fcc: fccYU12, w: 2, h: 2, planes: 1, stride: [3]int{4}}
	img, err = i420.toI420(nil, [][]byte{{1, 2, 0, 0, 3, 4, 0, 0, 55, 0, 66, 0}})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{1, 2}, {3, 4}}, rows(img.Y, img.YStride, 2, 2))
	assert.Equal(t, []byte{55}, img.Cb[:1])
	assert.Equal(t, []byte{66}, img.Cr[:1])

	_, err = i420.toI420(nil, [][]byte{{1, 2, 0, 0, 3, 4, 0, 0, 55, 0, 66}})
	assert.ErrorIs(t, err, errShortFrame)
}

func TestLayoutCropsOddSizes(t *testing.T) {
	l := layout{fcc: fccYUYV, w: 5, h: 3, planes: 1, stride: [3]int{12}}
	img, err := l.toI420(nil, [][]byte{make([]byte, 36)})
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 4, 2), img.Rect)
}

func TestShortFramesRejected(t *testing.T) {
	dst := newI420(nil, 4, 2)
	assert.ErrorIs(t, yuyvToI420(dst, make([]byte, 15), 8), errShortFrame)
	assert.ErrorIs(t, yuyvToI420(dst, make([]byte, 16), 7), errShortFrame, "stride shorter than a line")
	assert.ErrorIs(t, nv12ToI420(dst, make([]byte, 8), 4, make([]byte, 3), 4), errShortFrame)
	assert.NoError(t, nv12ToI420(dst, make([]byte, 8), 4, make([]byte, 4), 4))
}

// reference422 converts one pixel's worth at a time, the slow obvious way.
func reference422(src []byte, stride, w, h int, o packedOrder) *image.YCbCr {
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	at := func(x, y, c int) uint {
		return uint(src[y*stride+4*(x/2)+c])
	}
	for y := range h {
		for x := range w {
			c := o.y0
			if x%2 == 1 {
				c = o.y1
			}
			dst.Y[y*dst.YStride+x] = byte(at(x, y, c))
		}
	}
	for cy := range (h + 1) / 2 {
		y0, y1 := 2*cy, min(2*cy+1, h-1)
		for cx := range (w + 1) / 2 {
			dst.Cb[cy*dst.CStride+cx] = byte((at(2*cx, y0, o.u) + at(2*cx, y1, o.u) + 1) / 2)
			dst.Cr[cy*dst.CStride+cx] = byte((at(2*cx, y0, o.v) + at(2*cx, y1, o.v) + 1) / 2)
		}
	}
	return dst
}

func samePicture(t *testing.T, want, got *image.YCbCr) {
	t.Helper()
	w, h := want.Rect.Dx(), want.Rect.Dy()
	require.Equal(t, want.Rect, got.Rect)
	require.Equal(t, rows(want.Y, want.YStride, w, h), rows(got.Y, got.YStride, w, h))
	cw, ch := (w+1)/2, (h+1)/2
	require.Equal(t, rows(want.Cb, want.CStride, cw, ch), rows(got.Cb, got.CStride, cw, ch))
	require.Equal(t, rows(want.Cr, want.CStride, cw, ch), rows(got.Cr, got.CStride, cw, ch))
}

// FuzzPacked422 checks YUYV and UYVY conversion against the reference on arbitrary sizes,
// strides and (possibly short) buffers: never a panic, exact pixels when the buffer is whole.
func FuzzPacked422(f *testing.F) {
	f.Add(uint8(4), uint8(2), uint8(0), false, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add(uint8(3), uint8(3), uint8(5), true, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, w8, h8, pad uint8, uyvy bool, data []byte) {
		w, h := int(w8%64)+1, int(h8%64)+1
		stride := 4*((w+1)/2) + int(pad%32)
		o := orderYUYV
		if uyvy {
			o = orderUYVY
		}
		dst := newI420(nil, w, h)
		err := packed422ToI420(dst, data, stride, o)
		var err2 error
		if !uyvy {
			err2 = yuyvToI420(newI420(nil, w, h), data, stride)
		}
		need := (h-1)*stride + 4*((w+1)/2)
		if len(data) < need {
			require.ErrorIs(t, err, errShortFrame)
			if !uyvy {
				require.ErrorIs(t, err2, errShortFrame)
			}
			return
		}
		require.NoError(t, err)
		samePicture(t, reference422(data, stride, w, h, o), dst)
		if !uyvy {
			got := newI420(nil, w, h)
			require.NoError(t, yuyvToI420(got, data, stride))
			samePicture(t, dst, got)
		}
	})
}

// FuzzNV12 checks NV12 against the obvious per-pixel reading.
func FuzzNV12(f *testing.F) {
	f.Add(uint8(4), uint8(2), uint8(0), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add(uint8(5), uint8(3), uint8(3), []byte{1})
	f.Fuzz(func(t *testing.T, w8, h8, pad uint8, data []byte) {
		w, h := int(w8%64)+1, int(h8%64)+1
		cw, ch := (w+1)/2, (h+1)/2
		stride := w + int(pad%32)
		uvStride := max(stride, 2*cw)
		split := min(len(data), stride*h)
		y, uv := data[:split], data[split:]
		dst := newI420(nil, w, h)
		err := nv12ToI420(dst, y, stride, uv, uvStride)
		if len(y) < (h-1)*stride+w || len(uv) < (ch-1)*uvStride+2*cw {
			require.ErrorIs(t, err, errShortFrame)
			return
		}
		require.NoError(t, err)
		want := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for r := range h {
			for x := range w {
				want.Y[r*want.YStride+x] = y[r*stride+x]
			}
		}
		for r := range ch {
			for x := range cw {
				want.Cb[r*want.CStride+x] = uv[r*uvStride+2*x]
				want.Cr[r*want.CStride+x] = uv[r*uvStride+2*x+1]
			}
		}
		samePicture(t, want, dst)
	})
}

// FuzzLayout feeds arbitrary driver answers (format, size, strides) and buffers to the raw
// conversion: it must refuse or convert, never panic.
func FuzzLayout(f *testing.F) {
	f.Add(uint8(0), uint16(64), uint16(48), uint16(128), uint16(64), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, which uint8, w, h, s0, s1 uint16, data []byte) {
		fccs := []fourcc{fccYUYV, fccUYVY, fccNV12, fccNV12M, fccYU12}
		l := layout{fcc: fccs[int(which)%len(fccs)], w: int(w % 300), h: int(h % 300), planes: 1, stride: [3]int{int(s0 % 1300), int(s1 % 1300)}}
		if l.fcc == fccNV12M {
			l.planes = 2
		}
		if l.check() != nil {
			return
		}
		half := len(data) / 2
		img, err := l.toI420(nil, [][]byte{data[:half], data[half:]})
		if err == nil {
			wantW, wantH := max(l.w&^1, 1), max(l.h&^1, 1)
			require.Equal(t, image.Rect(0, 0, wantW, wantH), img.Rect, "odd sizes lose a column or row")
		}
	})
}

func BenchmarkYUYVToI420(b *testing.B) {
	const w, h = 1920, 1080
	src := make([]byte, 2*w*h)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := newI420(nil, w, h)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if err := yuyvToI420(dst, src, 2*w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
}

func BenchmarkNV12ToI420(b *testing.B) {
	const w, h = 1920, 1080
	src := make([]byte, w*h*3/2)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := newI420(nil, w, h)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if err := nv12ToI420(dst, src[:w*h], w, src[w*h:], w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
}
