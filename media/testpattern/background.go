package testpattern

import (
	"image"
	"math/rand/v2"
)

// background paints what lies under the panels: a flat colour with static colour bars, or,
// for MotionFull, a texture that scrolls every frame so every macroblock changes.
type background struct {
	flat yuv
	bars image.Rectangle
	// barColors are 75% SMPTE bars in BT.601.
	barColors [7]yuv

	// Full motion: luma and chroma tiles whose rows repeat past the tile width, so one copy
	// fills a row at any horizontal offset.
	full                bool
	tileY, tileU, tileV []byte
	strideY, strideC    int
	offX, offY          int
}

const (
	tileY = 256 // luma tile period; chroma tiles are half
	tileC = tileY / 2
)

func newBackground(w, h int, l layout, full bool) *background {
	b := &background{
		flat: yuv{48, 136, 120},
		bars: l.bars,
		barColors: [7]yuv{
			{180, 128, 128}, {162, 44, 142}, {131, 156, 44}, {112, 72, 58},
			{84, 184, 198}, {65, 100, 212}, {35, 212, 114},
		},
		full: full,
	}
	if full {
		rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: the same pattern every run
		b.strideY, b.strideC = tileY+w, tileC+(w+1)/2
		b.tileY = valueNoise(rng, tileY, b.strideY, 8, 24, 232)
		b.tileU = valueNoise(rng, tileC, b.strideC, 4, 64, 192)
		b.tileV = valueNoise(rng, tileC, b.strideC, 4, 64, 192)
	}
	return b
}

// valueNoise returns a size×stride tile (periodic in size both ways) of random values in
// [lo, hi] on a cell grid, bilinearly interpolated: texture that motion search can follow.
func valueNoise(rng *rand.Rand, size, stride, cell, lo, hi int) []byte {
	g := size / cell
	grid := make([]int, g*g)
	for i := range grid {
		grid[i] = lo + rng.IntN(hi-lo+1)
	}
	at := func(x, y int) int { return grid[(y%g)*g+x%g] }
	t := make([]byte, size*stride)
	for y := range size {
		for x := range stride {
			gx, gy, fx, fy := (x%size)/cell, y/cell, x%cell, y%cell
			top := at(gx, gy)*(cell-fx) + at(gx+1, gy)*fx
			bot := at(gx, gy+1)*(cell-fx) + at(gx+1, gy+1)*fx
			t[y*stride+x] = byte((top*(cell-fy) + bot*fy) / (cell * cell))
		}
	}
	return t
}

// advance moves the full-motion texture for frame n.
func (b *background) advance(n uint64) {
	b.offX = int(n*6) % tileY
	b.offY = int(n*2) % tileY
}

// paint fills r (even-aligned) with the background.
func (b *background) paint(c *canvas, r image.Rectangle) {
	if !b.full {
		c.fill(r, b.flat)
		if r.Overlaps(b.bars) {
			w := b.bars.Dx() / len(b.barColors)
			for i, col := range b.barColors {
				bar := image.Rect(b.bars.Min.X+i*w, b.bars.Min.Y, b.bars.Min.X+(i+1)*w, b.bars.Max.Y)
				if i == len(b.barColors)-1 {
					bar.Max.X = b.bars.Max.X
				}
				c.fill(evenOut(bar).Intersect(r), col)
			}
		}
		return
	}
	img := c.img
	n := r.Dx()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := b.tileY[((y+b.offY)%tileY)*b.strideY+b.offX+r.Min.X:]
		o := y*img.YStride + r.Min.X
		copy(img.Y[o:o+n], src[:n])
	}
	cx0, cn := r.Min.X/2, n/2
	for y := r.Min.Y / 2; y < r.Max.Y/2; y++ {
		so := ((y+b.offY/2)%tileC)*b.strideC + b.offX/2 + cx0
		o := y*img.CStride + cx0
		copy(img.Cb[o:o+cn], b.tileU[so:so+cn])
		copy(img.Cr[o:o+cn], b.tileV[so:so+cn])
	}
}
