package h264_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

// splitAll feeds data in chunks of random sizes and returns every access unit.
func splitAll(t testing.TB, s *h264.Splitter, data []byte, seed uint64) [][][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var aus [][][]byte
	for len(data) > 0 {
		n := min(len(data), 1+r.IntN(3000))
		aus = append(aus, s.Push(data[:n])...)
		data = data[n:]
	}
	return append(aus, s.Flush()...)
}

func idrIndexes(aus [][][]byte) []int {
	var idx []int
	for i, au := range aus {
		for _, n := range au {
			if h264.NALType(n) == h264.NALIDRSlice {
				idx = append(idx, i)
				break
			}
		}
	}
	return idx
}

// TestSplitterFFmpeg splits libx264's byte streams, in one slice per picture, several slices,
// with access unit delimiters and with B-frames, into exactly the pictures ffmpeg encoded.
func TestSplitterFFmpeg(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"baseline", []string{"-profile:v", "baseline", "-g", "10"}},
		{"zerolatency sliced", []string{"-profile:v", "baseline", "-tune", "zerolatency", "-g", "10", "-x264-params", "slices=4"}},
		{"delimiters", []string{"-g", "10", "-bf", "0", "-x264-params", "aud=1"}},
		{"b-frames", []string{"-profile:v", "high", "-bf", "2", "-g", "10", "-sc_threshold", "0"}},
	}
	const frames = 30
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := encodeFFmpeg(t, frames, tt.args...)
			for seed := range uint64(3) {
				s := h264.NewSplitter(0)
				aus := splitAll(t, s, data, seed)
				require.Len(t, aus, frames, "seed %d", seed)
				assert.Zero(t, s.Dropped)
				assert.Equal(t, []int{0, 10, 20}, idrIndexes(aus))
				for i, au := range aus {
					slices := 0
					for _, n := range au {
						require.NotEmpty(t, n)
						if h264.IsSlice(h264.NALType(n)) {
							slices++
							h, err := h264.ParseSliceHeader(n)
							require.NoError(t, err)
							if slices == 1 {
								assert.Zero(t, h.FirstMB, "unit %d starts with its first slice", i)
							}
						}
					}
					assert.Positive(t, slices, "unit %d", i)
				}
			}
		})
	}
}

func TestSplitterSlices(t *testing.T) {
	data := encodeFFmpeg(t, 3, "-profile:v", "baseline", "-x264-params", "slices=4")
	aus := splitAll(t, h264.NewSplitter(0), data, 7)
	require.Len(t, aus, 3)
	for _, au := range aus {
		n := 0
		for _, nal := range au {
			if h264.IsSlice(h264.NALType(nal)) {
				n++
			}
		}
		assert.Equal(t, 4, n, "four slices in every picture")
	}
}

// TestSplitterOversized drops an access unit over the limit and resumes at the next one.
func TestSplitterOversized(t *testing.T) {
	data := encodeFFmpeg(t, 20, "-profile:v", "baseline", "-g", "10")
	whole := splitAll(t, h264.NewSplitter(0), data, 1)
	require.Len(t, whole, 20)
	// The IDRs are the largest units: a limit between them and the P-frames drops just those.
	largestP, smallestIDR := 0, 1<<30
	for i, au := range whole {
		size := 0
		for _, n := range au {
			size += len(n) + 3
		}
		if i == 0 || i == 10 {
			smallestIDR = min(smallestIDR, size)
		} else {
			largestP = max(largestP, size)
		}
	}
	require.Less(t, largestP, smallestIDR)
	s := h264.NewSplitter((largestP + smallestIDR) / 2)
	aus := splitAll(t, s, data, 2)
	assert.Len(t, aus, 18)
	assert.Equal(t, 2, s.Dropped)
	assert.Empty(t, idrIndexes(aus))
}

func TestSplitterEdges(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84, 0x21}  // first_mb 0, I slice
	p0 := []byte{0x41, 0x9a, 0x02, 0x03}   // first_mb 0, P slice
	p1 := []byte{0x41, 0x5a, 0x02, 0x03}   // first_mb 1: same picture
	eos := []byte{0x0b}                    // end of stream: belongs to the unit before
	garbage := []byte{0xff, 0xee, 0, 0, 0} // before the first start code
	var stream []byte
	for _, n := range [][]byte{sps, pps, idr, p0, p1, eos} {
		stream = append(stream, 0, 0, 0, 1)
		stream = append(stream, n...)
	}
	stream = append(garbage, stream...)
	for seed := range uint64(5) {
		aus := splitAll(t, h264.NewSplitter(0), stream, seed)
		require.Equal(t, [][][]byte{{sps, pps, idr}, {p0, p1, eos}}, aus, "seed %d", seed)
	}
	assert.Empty(t, h264.NewSplitter(0).Push([]byte{1, 2, 3, 4}))
	assert.Empty(t, h264.NewSplitter(0).Flush())
}

func FuzzSplitter(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9a}, uint8(3))
	f.Add([]byte{0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x9a, 0x10}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		const limit = 4096
		s := h264.NewSplitter(limit)
		var aus [][][]byte
		for rest := data; len(rest) > 0; {
			n := min(len(rest), int(chunk)+1)
			aus = append(aus, s.Push(rest[:n])...)
			rest = rest[n:]
		}
		aus = append(aus, s.Flush()...)
		total := 0
		for _, au := range aus {
			slices, size := 0, 0
			for _, n := range au {
				if len(n) == 0 || n[0]&0x80 != 0 {
					t.Fatalf("bad NAL unit %x", n)
				}
				if h264.IsSlice(h264.NALType(n)) {
					slices++
				}
				size += len(n)
			}
			if slices == 0 {
				t.Fatal("access unit without a slice")
			}
			if size > limit+64<<10 {
				t.Fatalf("access unit of %d bytes over the limit", size)
			}
			total += size
		}
		if total > len(data) {
			t.Fatalf("%d bytes out of %d in", total, len(data))
		}
	})
}
