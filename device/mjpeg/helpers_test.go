package mjpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// testdata returns a committed sample: testsrc2 at 64×48 (or 63×47 for the "odd" ones) in
// the subsampling its name says, made with ffmpeg -pix_fmt yuvj4xxp.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "testsrc2-"+name+".jpg"))
	require.NoError(t, err)
	return b
}

// ffmpegJPEG makes one testsrc2 frame of size ("1920x1080") and pixel format ("yuvj422p").
func ffmpegJPEG(t testing.TB, size, pixFmt string) []byte {
	t.Helper()
	ff := testenv.LookPath(t, "ffmpeg", "ffmpeg")
	out := filepath.Join(t.TempDir(), "frame.jpg")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", "testsrc2=size="+size+":rate=1", "-frames:v", "1", "-pix_fmt", pixFmt, "-q:v", "4", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", b)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	return data
}

// grayJPEG encodes a flat picture of luma v with image/jpeg (4:2:0): frames a test can tell
// apart by their brightness.
func grayJPEG(t testing.TB, w, h int, v uint8) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = v
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

// meanY is the mean luma of a frame.
func meanY(img *image.YCbCr) float64 {
	sum := 0
	for y := range img.Rect.Dy() {
		for _, v := range img.Y[y*img.YStride : y*img.YStride+img.Rect.Dx()] {
			sum += int(v)
		}
	}
	return float64(sum) / float64(img.Rect.Dx()*img.Rect.Dy())
}

// requireBars checks testsrc2's six color bars near the bottom of a frame.
func requireBars(t testing.TB, img *image.YCbCr) {
	t.Helper()
	require.NoError(t, barsErr(img))
}

// barsErr tells testsrc2's six color bars near the bottom of a frame apart: red, green,
// yellow, blue, magenta and cyan from the left, by luma order and chroma.
func barsErr(img *image.YCbCr) error {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	y := h * 19 / 20
	var px [6]color.YCbCr
	for i := range px {
		px[i] = img.YCbCrAt(w*(2*i+1)/12, y)
	}
	red, green, yellow, blue, magenta, cyan := px[0], px[1], px[2], px[3], px[4], px[5]
	order := []uint8{yellow.Y, cyan.Y, green.Y, magenta.Y, red.Y, blue.Y}
	for i := 1; i < len(order); i++ {
		if order[i-1] <= order[i] {
			return fmt.Errorf("bar lumas not yellow>cyan>green>magenta>red>blue: %v", px)
		}
	}
	if blue.Cb <= 200 || red.Cr <= 200 || yellow.Cb >= 60 || cyan.Cr >= 60 {
		return fmt.Errorf("bar chroma off (blue Cb, red Cr high; yellow Cb, cyan Cr low): %v", px)
	}
	return nil
}

// checkI420 is what the encoders check before handing planes to C: a 4:2:0 picture of
// exactly w×h whose buffers hold every row its strides promise.
func checkI420(img *image.YCbCr, w, h int) error {
	switch {
	case img == nil:
		return errors.New("no image")
	case img.SubsampleRatio != image.YCbCrSubsampleRatio420:
		return fmt.Errorf("%v, want 4:2:0", img.SubsampleRatio)
	case img.Rect != image.Rect(0, 0, w, h):
		return fmt.Errorf("rect %v, want %dx%d", img.Rect, w, h)
	}
	cw, ch := (w+1)/2, (h+1)/2
	if img.YStride < w || img.CStride < cw || len(img.Y) < (h-1)*img.YStride+w ||
		len(img.Cb) < (ch-1)*img.CStride+cw || len(img.Cr) < (ch-1)*img.CStride+cw {
		return errors.New("buffers smaller than their strides claim")
	}
	return nil
}
