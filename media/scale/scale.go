// Package scale resizes I420 pictures down, for sending a smaller picture when the network
// cannot carry a legible full-size one. It filters by area (each output sample is the mean
// of the input samples it covers, with fractional edges): console text stays readable where
// point or bilinear sampling would drop whole strokes of 1-pixel-wide glyphs.
package scale

import (
	"image"
)

// Scaler resizes pictures of one size to another, reusing its output buffer and tables: the
// picture it returns is valid until the next call.
type Scaler struct {
	srcW, srcH, dstW, dstH int
	dst                    *image.YCbCr
	luma, chroma           axes
	row                    []uint32 // one horizontally filtered input row, 16.16
	acc                    []uint64 // one output row being summed
}

// axes holds the precomputed filter taps of both directions for one plane size.
type axes struct{ x, y []taps }

// taps is one output sample's input range and the 16.16 weights of its first and last input
// samples (the ones the output covers only partly); inner samples weigh full.
type taps struct {
	first, last   int
	wFirst, wLast uint32
	inv           uint32 // 1/coverage in 16.16
}

// New returns a Scaler from srcW×srcH to dstW×dstH (both even, dst no larger than src).
func New(srcW, srcH, dstW, dstH int) *Scaler {
	s := &Scaler{srcW: srcW, srcH: srcH, dstW: dstW, dstH: dstH}
	s.dst = image.NewYCbCr(image.Rect(0, 0, dstW, dstH), image.YCbCrSubsampleRatio420)
	s.luma = axes{x: makeTaps(srcW, dstW), y: makeTaps(srcH, dstH)}
	s.chroma = axes{x: makeTaps((srcW+1)/2, (dstW+1)/2), y: makeTaps((srcH+1)/2, (dstH+1)/2)}
	s.row, s.acc = make([]uint32, dstW), make([]uint64, dstW)
	return s
}

// Fits reports whether s scales pictures of w×h to dw×dh.
func (s *Scaler) Fits(w, h, dw, dh int) bool {
	return s.srcW == w && s.srcH == h && s.dstW == dw && s.dstH == dh
}

// makeTaps computes, for each of n output samples, which of the m input samples it covers.
func makeTaps(m, n int) []taps {
	out := make([]taps, n)
	for i := range out {
		// Output sample i covers input [i·m/n, (i+1)·m/n), in 16.16 fixed point.
		start := uint64(i) * uint64(m) << 16 / uint64(n)
		end := uint64(i+1) * uint64(m) << 16 / uint64(n)
		first, last := int(start>>16), int((end-1)>>16)
		last = min(last, m-1)
		t := taps{first: first, last: last}
		if first == last {
			t.wFirst = uint32(end - start)
		} else {
			t.wFirst = uint32(uint64(first+1)<<16 - start)
			t.wLast = uint32(end - uint64(last)<<16)
		}
		t.inv = uint32((uint64(1) << 32) / (end - start))
		out[i] = t
	}
	return out
}

// Scale resizes src (which must be srcW×srcH) and returns the scaled picture.
func (s *Scaler) Scale(src *image.YCbCr) *image.YCbCr {
	p := src.Rect.Min
	yOff := src.YOffset(p.X, p.Y)
	cOff := src.COffset(p.X, p.Y)
	s.plane(s.dst.Y, s.dst.YStride, src.Y[yOff:], src.YStride, s.luma)
	s.plane(s.dst.Cb, s.dst.CStride, src.Cb[cOff:], src.CStride, s.chroma)
	s.plane(s.dst.Cr, s.dst.CStride, src.Cr[cOff:], src.CStride, s.chroma)
	return s.dst
}

// plane area-averages one plane: each output row sums its input rows' horizontal averages.
func (s *Scaler) plane(dst []byte, dstStride int, src []byte, srcStride int, a axes) {
	row, acc := s.row[:len(a.x)], s.acc[:len(a.x)]
	for oy, ty := range a.y {
		clear(acc)
		for iy := ty.first; iy <= ty.last; iy++ {
			wy := uint64(1 << 16)
			switch {
			case iy == ty.first:
				wy = uint64(ty.wFirst)
			case iy == ty.last:
				wy = uint64(ty.wLast)
			}
			horizontal(row, src[iy*srcStride:], a.x)
			for i, v := range row {
				acc[i] += uint64(v) * wy
			}
		}
		out := dst[oy*dstStride:]
		for i, v := range acc {
			// v is the 16.16 average times 16.16 weights; times 1/coverage >> 32 it is the
			// 16.16 average, rounded to a byte.
			out[i] = byte(min((v*uint64(ty.inv)>>32+1<<15)>>16, 255))
		}
	}
}

// horizontal averages one input row into row (16.16 values).
func horizontal(row []uint32, in []byte, tx []taps) {
	for i, t := range tx {
		var sum uint64
		if t.first == t.last {
			sum = uint64(in[t.first]) * uint64(t.wFirst)
		} else {
			sum = uint64(in[t.first])*uint64(t.wFirst) + uint64(in[t.last])*uint64(t.wLast)
			for x := t.first + 1; x < t.last; x++ {
				sum += uint64(in[x]) << 16
			}
		}
		// sum is value·coverage with 16.16 weights; times 1/coverage (2^32/coverage) it is
		// the average in 16.16 after >> 16.
		row[i] = uint32(sum * uint64(t.inv) >> 16)
	}
}
