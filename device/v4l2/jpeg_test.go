package v4l2

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestStdJPEG422FromFFmpeg decodes the 4:2:2 JPEG that USB capture dongles send (made here by
// ffmpeg) and checks the 4:2:0 result against image/jpeg's own decoding: luma the same,
// chroma the average of each pair of rows.
func TestStdJPEG422FromFFmpeg(t *testing.T) {
	ffmpeg := testenv.LookPath(t, "ffmpeg", "ffmpeg")
	for _, size := range []string{"64x48", "33x17"} {
		t.Run(size, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "f.jpg")
			cmd := exec.Command(ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=1",
				"-frames:v", "1", "-pix_fmt", "yuvj422p", "-q:v", "3", out)
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", b)
			data, err := os.ReadFile(out)
			require.NoError(t, err)

			ref, err := jpeg.Decode(bytes.NewReader(data))
			require.NoError(t, err)
			src := ref.(*image.YCbCr)
			require.Equal(t, image.YCbCrSubsampleRatio422, src.SubsampleRatio, "ffmpeg made 4:2:2")

			d := NewStdJPEGDecoder()
			defer d.Close()
			got, err := d.Decode(data)
			require.NoError(t, err)
			w, h := src.Rect.Dx(), src.Rect.Dy()
			require.Equal(t, image.YCbCrSubsampleRatio420, got.SubsampleRatio)
			require.Equal(t, src.Rect, got.Rect)
			assert.Equal(t, rows(src.Y, src.YStride, w, h), rows(got.Y, got.YStride, w, h))
			cw := (w + 1) / 2
			for y := 0; y < h; y += 2 {
				y1 := min(y+1, h-1)
				for x := range cw {
					wantCb := (uint(src.Cb[y*src.CStride+x]) + uint(src.Cb[y1*src.CStride+x]) + 1) / 2
					require.Equal(t, byte(wantCb), got.Cb[(y/2)*got.CStride+x], "Cb at %d,%d", x, y/2)
					wantCr := (uint(src.Cr[y*src.CStride+x]) + uint(src.Cr[y1*src.CStride+x]) + 1) / 2
					require.Equal(t, byte(wantCr), got.Cr[(y/2)*got.CStride+x], "Cr at %d,%d", x, y/2)
				}
			}
		})
	}
}

func TestStdJPEGLayouts(t *testing.T) {
	d := &stdJPEG{}
	// 4:4:4: each chroma sample of the output is a 2×2 average.
	p444 := image.NewYCbCr(image.Rect(0, 0, 2, 2), image.YCbCrSubsampleRatio444)
	copy(p444.Cb, []byte{10, 20, 30, 41})
	copy(p444.Cr, []byte{100, 100, 100, 100})
	got, err := d.toI420(p444)
	require.NoError(t, err)
	assert.Equal(t, byte(25), got.Cb[0]) // (10+20+30+41+2)/4
	assert.Equal(t, byte(100), got.Cr[0])

	g := image.NewGray(image.Rect(0, 0, 4, 2))
	copy(g.Pix, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	got, err = d.toI420(g)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}, rows(got.Y, got.YStride, 4, 2))
	assert.Equal(t, []byte{128, 128}, got.Cb)
	assert.Equal(t, []byte{128, 128}, got.Cr)

	_, err = d.toI420(image.NewYCbCr(image.Rect(0, 0, 4, 4), image.YCbCrSubsampleRatio410))
	assert.ErrorIs(t, err, errUnsupportedJPEG)
	_, err = d.toI420(image.NewCMYK(image.Rect(0, 0, 4, 4)))
	assert.ErrorIs(t, err, errUnsupportedJPEG)
}

func TestStdJPEGRejectsHugeBeforeDecoding(t *testing.T) {
	// JFIF and a baseline SOF0 header claiming 60000×60000: refused from the header alone.
	hdr := []byte{0xFF, 0xD8,
		0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
		0xFF, 0xC0, 0, 11, 8, 0xEA, 0x60, 0xEA, 0x60, 1, 1, 0x11, 0}
	_, err := NewStdJPEGDecoder().Decode(hdr)
	require.ErrorIs(t, err, errUnsupportedJPEG)
	_, err = NewStdJPEGDecoder().Decode([]byte("not a jpeg"))
	require.Error(t, err)
}

// FuzzStdJPEG feeds arbitrary bytes to the fallback decoder: an error or a valid 4:2:0
// picture within the limits, never a panic.
func FuzzStdJPEG(f *testing.F) {
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 9, 7)), nil)
	f.Add(buf.Bytes())
	buf.Reset()
	_ = jpeg.Encode(&buf, image.NewYCbCr(image.Rect(0, 0, 16, 8), image.YCbCrSubsampleRatio420), nil)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := NewStdJPEGDecoder().Decode(data)
		if err != nil {
			return
		}
		require.Equal(t, image.YCbCrSubsampleRatio420, img.SubsampleRatio)
		require.LessOrEqual(t, img.Rect.Dx()*img.Rect.Dy(), maxJPEGPixels)
	})
}
