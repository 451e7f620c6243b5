package testpattern

import "image"

// The latency strip (DESIGN.md, "Latency strip"): at the top-left corner, 16 square blocks of
// 32×32 px in one row; block i from the left is white when bit i of the key-down count is set,
// black otherwise. Full white and full black so a reader can threshold at 128 after any
// reasonable codec.
const (
	StripBlocks = 16
	StripBlock  = 32
)

// StripRect returns the area of the frame the strip owns; nothing else is drawn there.
func StripRect() image.Rectangle { return image.Rect(0, 0, StripBlocks*StripBlock, StripBlock) }

// drawStrip draws the blocks whose bit differs between old and count (all of them when full).
func drawStrip(c *canvas, old, count uint16, full bool) {
	changed := old ^ count
	if full {
		changed = 0xFFFF
	}
	for i := range StripBlocks {
		if changed&(1<<i) == 0 {
			continue
		}
		col := yuv{0, 128, 128} // full black
		if count&(1<<i) != 0 {
			col = yuv{255, 128, 128} // full white
		}
		c.fill(image.Rect(i*StripBlock, 0, (i+1)*StripBlock, StripBlock), col)
	}
}

// DecodeStrip reads the key-down count back from a frame: the mean luma of the middle 16×16
// pixels of each block, thresholded at 128. It reads decoded (possibly blurred) pictures, so
// it ignores the block edges. A picture too small to hold the strip reads as 0.
func DecodeStrip(img *image.YCbCr) uint16 {
	strip := StripRect()
	if img == nil || img.Rect.Dx() < strip.Dx() || img.Rect.Dy() < strip.Dy() {
		return 0
	}
	const inset, size = StripBlock / 4, StripBlock / 2
	var count uint16
	for i := range StripBlocks {
		sum := 0
		for y := inset; y < inset+size; y++ {
			o := img.YOffset(img.Rect.Min.X+i*StripBlock+inset, img.Rect.Min.Y+y)
			for _, v := range img.Y[o : o+size] {
				sum += int(v)
			}
		}
		if sum >= 128*size*size {
			count |= 1 << i
		}
	}
	return count
}
