// Package synth makes deterministic raw frames for encoder tests and benchmarks: a textured
// picture that moves every frame, so every macroblock changes (the hard case for an encoder).
package synth

import (
	"image"
	"math/rand/v2"
)

const tileSize = 256 // power of two: wrap with a mask

// Motion renders frames of a texture scrolling diagonally, with per-frame noise.
type Motion struct {
	img  *image.YCbCr
	tile []byte // tileSize × (tileSize + width), rows repeated so one copy fills a row
	rng  *rand.Rand
	n    int
	// Noise is the amplitude of the per-frame random noise added to luma (0 = none); set it
	// before the first Next.
	Noise int
	noise []int8 // random values in [-Noise, Noise], read at a random offset per frame
}

// NewMotion returns a generator of w×h frames; seed fixes the texture and noise.
func NewMotion(w, h int, seed uint64) *Motion {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &Motion{
		img: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
		rng: rng,
	}
	// Value noise on an 8 px grid, bilinearly smoothed: structured like real content, so
	// motion search can follow it.
	const cell = 8
	grid := make([]int, (tileSize/cell)*(tileSize/cell))
	for i := range grid {
		grid[i] = 16 + rng.IntN(220)
	}
	at := func(gx, gy int) int {
		g := tileSize / cell
		return grid[(gy%g)*g+gx%g]
	}
	stride := tileSize + w
	m.tile = make([]byte, tileSize*stride)
	for y := range tileSize {
		for x := range stride {
			gx, gy, fx, fy := (x%tileSize)/cell, y/cell, x%cell, y%cell
			top := at(gx, gy)*(cell-fx) + at(gx+1, gy)*fx
			bot := at(gx, gy+1)*(cell-fx) + at(gx+1, gy+1)*fx
			m.tile[y*stride+x] = byte((top*(cell-fy) + bot*fy) / (cell * cell))
		}
	}
	return m
}

// Next renders the next frame into the generator's one buffer and returns it.
func (m *Motion) Next() *image.YCbCr {
	img := m.img
	w, h := img.Rect.Dx(), img.Rect.Dy()
	stride := tileSize + w
	ox, oy := (m.n*5)%tileSize, (m.n*3)%tileSize
	for y := range h {
		src := m.tile[((y+oy)%tileSize)*stride+ox:]
		row := img.Y[y*img.YStride : y*img.YStride+w]
		copy(row, src[:w])
		if m.Noise > 0 {
			noise := m.noiseRow(w)
			for x := range row {
				v := int(row[x]) + int(noise[x])
				row[x] = byte(min(max(v, 0), 255))
			}
		}
	}
	for y := range (h + 1) / 2 {
		src := m.tile[((2*y+oy+64)%tileSize)*stride+ox/2:]
		for x := range (w + 1) / 2 {
			img.Cb[y*img.CStride+x] = 64 + src[x]/2
			img.Cr[y*img.CStride+x] = 192 - src[x+7]/2
		}
	}
	m.n++
	return img
}

// noiseRow returns n random values in [-Noise, Noise] from a table built once, at a random
// offset: much cheaper than drawing each one.
func (m *Motion) noiseRow(n int) []int8 {
	const size = 1 << 16
	if len(m.noise) != size+n {
		m.noise = make([]int8, size+n)
		for i := range m.noise {
			m.noise[i] = int8(m.rng.IntN(2*m.Noise+1) - m.Noise)
		}
	}
	off := m.rng.IntN(size)
	return m.noise[off : off+n]
}
