package rfb

import (
	"image"
	"image/color"
)

// maxCursor bounds a cursor shape's side: real cursors are 16 to 64 pixels, some themes 256.
const maxCursor = 256

// Cursor is the pointer shape from the Cursor pseudo-encoding: pixels with the mask as alpha
// (opaque or transparent), and the hotspot, the pixel that is the pointer's position.
type Cursor struct {
	Image   *image.RGBA // nil when the server hides the cursor (a 0×0 shape)
	Hotspot image.Point
}

func (c *Client) readCursor(hotX, hotY, w, h int) error {
	if w > maxCursor || h > maxCursor {
		return protoErr("cursor of %dx%d, larger than %dx%d", w, h, maxCursor, maxCursor)
	}
	bpp := c.px.BytesPerPixel()
	b, err := c.r.Next(w*h*bpp + (w+7)/8*h)
	if err != nil {
		return err
	}
	if w == 0 || h == 0 {
		c.cursor = Cursor{}
		return nil
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	st := DecodeState{Pixels: c.px, FB: img}
	for y := range h {
		st.DrawRow(image.Pt(0, y), b[y*w*bpp:(y+1)*w*bpp], bpp)
	}
	mask, stride := b[w*h*bpp:], (w+7)/8
	for y := range h {
		for x := range w {
			if mask[y*stride+x/8]&(0x80>>(x%8)) == 0 {
				img.SetRGBA(x, y, color.RGBA{})
			}
		}
	}
	hot := image.Pt(min(max(hotX, 0), w-1), min(max(hotY, 0), h-1))
	c.cursor = Cursor{Image: img, Hotspot: hot}
	return nil
}
