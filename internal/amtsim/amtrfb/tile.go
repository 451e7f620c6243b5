package amtrfb

import "image"

// tileEncoder writes one ZRLE tile (RFC 6143 §7.7.6) of at most 64×64, the payload of AMT's
// encoding 16, choosing the smallest of raw, solid, packed palette, plain RLE and palette
// RLE. CPIXELs are whole pixels: AMT's formats are 8 and 16 bpp. Buffers are reused.
type tileEncoder struct {
	enc  encoder
	vals []uint16
	pal  []uint16
	idx  [1 << 16]uint8 // value → palette index + 1, 0 when absent; cleared after each tile
	runs []run
	out  []byte
}

type run struct {
	v uint16
	n int
}

// maxPalette: palette RLE takes up to 127 colours.
const maxPalette = 127

// runBytes is how many bytes a run length of n takes: 255s summed, then the rest, of n−1.
func runBytes(n int) int { return (n-1)/255 + 1 }

func (t *tileEncoder) encode(img *image.RGBA, r image.Rectangle) []byte {
	t.vals, t.pal, t.runs = t.vals[:0], t.pal[:0], t.runs[:0]
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := img.PixOffset(r.Min.X, y)
		for x := 0; x < r.Dx(); x++ {
			p := img.Pix[o+4*x : o+4*x+3]
			v := t.enc.value(p[0], p[1], p[2])
			t.vals = append(t.vals, v)
			if t.idx[v] == 0 && len(t.pal) <= maxPalette {
				t.pal = append(t.pal, v)
				t.idx[v] = uint8(len(t.pal))
			}
			if n := len(t.runs); n > 0 && t.runs[n-1].v == v {
				t.runs[n-1].n++
			} else {
				t.runs = append(t.runs, run{v, 1})
			}
		}
	}
	defer func() {
		for _, v := range t.pal {
			t.idx[v] = 0
		}
	}()
	cp, w, h, np := t.enc.bpp, r.Dx(), r.Dy(), len(t.pal)
	out := t.out[:0]
	if np == 1 {
		t.out = t.enc.put(append(out, 1), t.pal[0])
		return t.out
	}
	rawCost := 1 + w*h*cp
	plainCost, palCost := 1, 1+np*cp
	for _, ru := range t.runs {
		plainCost += cp + runBytes(ru.n)
		if ru.n == 1 {
			palCost++
		} else {
			palCost += 1 + runBytes(ru.n)
		}
	}
	bits := 4
	switch {
	case np == 2:
		bits = 1
	case np <= 4:
		bits = 2
	}
	packedCost := 1 + np*cp + h*((w*bits+7)/8)
	best := min(rawCost, plainCost)
	if np <= maxPalette {
		best = min(best, palCost)
	}
	if np <= 16 {
		best = min(best, packedCost)
	}
	switch {
	case np <= 16 && best == packedCost:
		out = t.palette(append(out, byte(np)))
		for y := range h {
			var acc byte
			nbits := 0
			for _, v := range t.vals[y*w : (y+1)*w] {
				acc |= (t.idx[v] - 1) << (8 - bits - nbits)
				if nbits += bits; nbits == 8 {
					out, acc, nbits = append(out, acc), 0, 0
				}
			}
			if nbits > 0 {
				out = append(out, acc)
			}
		}
	case np <= maxPalette && best == palCost:
		out = t.palette(append(out, byte(128+np)))
		for _, ru := range t.runs {
			i := t.idx[ru.v] - 1
			if ru.n == 1 {
				out = append(out, i)
				continue
			}
			out = appendRun(append(out, 128|i), ru.n)
		}
	case best == plainCost:
		out = append(out, 128)
		for _, ru := range t.runs {
			out = appendRun(t.enc.put(out, ru.v), ru.n)
		}
	default:
		out = append(out, 0)
		for _, v := range t.vals {
			out = t.enc.put(out, v)
		}
	}
	t.out = out
	return out
}

func (t *tileEncoder) palette(out []byte) []byte {
	for _, v := range t.pal {
		out = t.enc.put(out, v)
	}
	return out
}

// appendRun writes a run length n ≥ 2 as ZRLE does: n−1 as 255s and a final byte below 255.
func appendRun(out []byte, n int) []byte {
	n--
	for ; n >= 255; n -= 255 {
		out = append(out, 255)
	}
	return append(out, byte(n))
}
