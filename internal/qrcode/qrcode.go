// Package qrcode draws QR codes of short texts (an otpauth:// URI for enrolling TOTP) for a
// terminal and for a web page.
//
// The encoder is github.com/piglig/go-qr: a complete, zero-dependency implementation of QR Code
// Model 2 (all versions and error-correction levels, ISO/IEC 18004 mask selection), released
// and maintained in 2026, with golden-file tests and a decoder of its own, which our tests use
// to read every drawing back. The other candidates were skip2/go-qrcode (untouched since
// 2020) and yeqown/go-qrcode/v2 (maintained, but it splits its writers into further modules and
// has no decoder to check our drawings with).
package qrcode

import (
	"encoding/base64"
	"fmt"
	"strings"

	goqr "github.com/piglig/go-qr"
)

// quietZone is the light margin around the symbol, in modules: the 4 the standard asks for,
// which phone cameras need to find the code against a busy background.
const quietZone = 4

// encode makes the symbol. The lowest error correction (7 %) is enough for a crisp drawing on
// a screen, and keeps an otpauth URI of ~130 characters at version 7 (45 modules): 53 columns
// and 27 lines of a terminal.
func encode(text string) (*goqr.QrCode, error) {
	q, err := goqr.EncodeText(text, goqr.Low)
	if err != nil {
		return nil, fmt.Errorf("qrcode: encode %d bytes: %w", len(text), err)
	}
	return q, nil
}

// Terminal draws text's QR code with Unicode half blocks, two module rows per line, quiet
// zone included. Terminals draw characters in their text colour on their background; the
// symbol must be dark on light, so by default light modules are drawn (for the usual light text
// on a dark background). invert draws the dark modules instead, for dark text on light.
func Terminal(text string, invert bool) (string, error) {
	q, err := encode(text)
	if err != nil {
		return "", err
	}
	n := q.Size()
	// drawn reports whether the module at x, y (quiet zone coordinates) gets ink.
	drawn := func(x, y int) bool {
		mx, my := x-quietZone, y-quietZone
		dark := mx >= 0 && my >= 0 && mx < n && my < n && q.Module(mx, my)
		return dark == invert
	}
	side := n + 2*quietZone
	var b strings.Builder
	for y := 0; y < side; y += 2 {
		for x := 0; x < side; x++ {
			// The side is odd: the last line's lower half is one more row of quiet zone.
			top, bottom := drawn(x, y), drawn(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// SVGDataURL is text's QR code as an SVG image in a data: URL, black on white, one unit per
// module, quiet zone included, for an <img> (an SVG there runs no script, and the dashboard's
// CSP allows img-src data:).
func SVGDataURL(text string) (string, error) {
	q, err := encode(text)
	if err != nil {
		return "", err
	}
	svg, err := q.ToSVGBytes(goqr.NewQrCodeImgConfig(1, quietZone, goqr.WithOptimalSVG()))
	if err != nil {
		return "", fmt.Errorf("qrcode: render SVG: %w", err)
	}
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg), nil
}
