package qrcode

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"strings"
	"testing"

	goqr "github.com/piglig/go-qr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const uri = "otpauth://totp/kvmrelay:vera@acme.example?algorithm=SHA1&digits=6&issuer=kvmrelay&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// TerminalImage paints drawing as a screen shows it: each character cell one module wide and
// two high, ink in the text colour, the rest in the background colour.
func TerminalImage(t *testing.T, drawing string, ink, background color.Color) image.Image {
	t.Helper()
	const px = 4 // pixels per module
	lines := strings.Split(strings.TrimSuffix(drawing, "\n"), "\n")
	w := len([]rune(lines[0]))
	img := image.NewGray(image.Rect(0, 0, w*px, len(lines)*2*px))
	for ly, line := range lines {
		require.Len(t, []rune(line), w, "every line is as wide as the first")
		for x, r := range []rune(line) {
			var top, bottom bool
			switch r {
			case '█':
				top, bottom = true, true
			case '▀':
				top = true
			case '▄':
				bottom = true
			case ' ':
			default:
				t.Fatalf("unexpected character %q", r)
			}
			for dy := 0; dy < 2*px; dy++ {
				on := top
				if dy >= px {
					on = bottom
				}
				c := background
				if on {
					c = ink
				}
				for dx := 0; dx < px; dx++ {
					img.Set(x*px+dx, ly*2*px+dy, c)
				}
			}
		}
	}
	return img
}

func TestTerminalDecodesToTheText(t *testing.T) {
	for _, tc := range []struct {
		name       string
		invert     bool
		ink, paper color.Color
	}{
		{"light text on dark", false, color.White, color.Black},
		{"dark text on light", true, color.Black, color.White},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drawing, err := Terminal(uri, tc.invert)
			require.NoError(t, err)
			got, err := goqr.Decode(TerminalImage(t, drawing, tc.ink, tc.paper))
			require.NoError(t, err)
			assert.Equal(t, uri, got)

			lines := strings.Split(strings.TrimSuffix(drawing, "\n"), "\n")
			assert.LessOrEqual(t, len([]rune(lines[0])), 80, "fits an 80-column terminal")
			assert.Less(t, len(lines), 30, "fits a 30-line terminal")
		})
	}
}

func TestSVGDataURL(t *testing.T) {
	u, err := SVGDataURL(uri)
	require.NoError(t, err)
	b64, ok := strings.CutPrefix(u, "data:image/svg+xml;base64,")
	require.True(t, ok, u)
	svg, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(svg, []byte("<svg ")), "%.60s", svg)
	assert.NotContains(t, string(svg), "<script")

	// The drawing is the library's symbol for the text: the same modules the terminal shows,
	// which the decoder reads back above.
	q, err := encode(uri)
	require.NoError(t, err)
	want, err := q.ToSVGBytes(goqr.NewQrCodeImgConfig(1, quietZone, goqr.WithOptimalSVG()))
	require.NoError(t, err)
	assert.Equal(t, want, svg)
	img, err := q.ToImage(goqr.NewQrCodeImgConfig(4, 4*quietZone))
	require.NoError(t, err)
	got, err := goqr.Decode(img)
	require.NoError(t, err)
	assert.Equal(t, uri, got)
}

func TestTooLong(t *testing.T) {
	_, err := Terminal(strings.Repeat("x", 5000), false)
	assert.Error(t, err)
	_, err = SVGDataURL(strings.Repeat("x", 5000))
	assert.Error(t, err)
}
