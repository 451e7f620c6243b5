package h264_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

func nalTypes(annexB []byte) []int {
	var types []int
	for _, n := range h264.SplitAnnexB(annexB) {
		types = append(types, h264.NALType(n))
	}
	return types
}

func withoutParamSets(au [][]byte) (rest, params [][]byte) {
	for _, n := range au {
		if t := h264.NALType(n); t == h264.NALSPS || t == h264.NALPPS {
			params = append(params, n)
		} else {
			rest = append(rest, n)
		}
	}
	return rest, params
}

// TestGateParameterSets: a stream whose SPS and PPS came only out of band (an SDP) gets them in
// front of every IDR; units before the first IDR are held back.
func TestGateParameterSets(t *testing.T) {
	aus := splitAll(t, h264.NewSplitter(0), encodeFFmpeg(t, 25, "-profile:v", "baseline", "-g", "10"), 3)
	require.Len(t, aus, 25)
	_, params := withoutParamSets(aus[0])
	require.Len(t, params, 2)

	var g h264.Gate
	require.NoError(t, g.SetParameterSets(params...))
	var passed []h264.Unit
	for _, au := range aus[5:] { // start mid-GOP, like a camera joined late
		rest, _ := withoutParamSets(au)
		u, ok, err := g.Pass(rest)
		require.NoError(t, err)
		if ok {
			passed = append(passed, u)
		}
	}
	assert.Equal(t, 5, g.Held, "units before the IDR at 10 are held back")
	require.Len(t, passed, 15)
	for i, u := range passed {
		if i%10 == 0 {
			assert.True(t, u.Keyframe)
			assert.Equal(t, []int{h264.NALSPS, h264.NALPPS, h264.NALIDRSlice}, nalTypes(u.Data), "unit %d", i)
		} else {
			assert.False(t, u.Keyframe)
			assert.Equal(t, []int{h264.NALSlice}, nalTypes(u.Data))
		}
	}
	sps, ok := g.SPS()
	require.True(t, ok)
	assert.Equal(t, 320, sps.Width)
}

// TestGateInBand: a stream with its parameter sets in band passes from its first unit, each IDR
// with exactly one SPS and PPS.
func TestGateInBand(t *testing.T) {
	aus := splitAll(t, h264.NewSplitter(0), encodeFFmpeg(t, 12, "-profile:v", "high", "-bf", "0", "-g", "10"), 3)
	var g h264.Gate
	for i, au := range aus {
		u, ok, err := g.Pass(au)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, i == 0, u.NewSPS)
		if i == 0 || i == 10 {
			types := nalTypes(u.Data)
			assert.Equal(t, h264.NALSPS, types[0])
			assert.Equal(t, h264.NALPPS, types[1])
			assert.Equal(t, h264.NALIDRSlice, types[len(types)-1])
			n := 0
			for _, ty := range types {
				if ty == h264.NALSPS {
					n++
				}
			}
			assert.Equal(t, 1, n, "no SPS twice")
		}
	}
	sps, _ := g.SPS()
	assert.Equal(t, "64000d", sps.ProfileLevelID())
}

func TestGateLost(t *testing.T) {
	aus := splitAll(t, h264.NewSplitter(0), encodeFFmpeg(t, 15, "-profile:v", "baseline", "-g", "10"), 3)
	var g h264.Gate
	n := 0
	for i, au := range aus {
		if i == 3 {
			g.Lost()
		}
		if _, ok, err := g.Pass(au); ok {
			require.NoError(t, err)
			n++
		}
	}
	assert.Equal(t, 3+5, n, "units 3…9 held after the loss")
}

// TestGateBFrames refuses a stream with B slices, as x264 writes with -bf 2.
func TestGateBFrames(t *testing.T) {
	aus := splitAll(t, h264.NewSplitter(0), encodeFFmpeg(t, 10, "-profile:v", "high", "-bf", "2"), 3)
	var g h264.Gate
	var err error
	for _, au := range aus {
		if _, _, err = g.Pass(au); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, h264.ErrBFrames)
	assert.Contains(t, err.Error(), "-bf 0")
}

func TestGateNoParameterSets(t *testing.T) {
	aus := splitAll(t, h264.NewSplitter(0), encodeFFmpeg(t, 3, "-profile:v", "baseline"), 3)
	rest, _ := withoutParamSets(aus[0])
	var g h264.Gate
	_, ok, err := g.Pass(rest)
	require.NoError(t, err)
	assert.False(t, ok, "an IDR without any SPS and PPS cannot be decoded")
	assert.Error(t, g.SetParameterSets([]byte{0x67, 0x42}))
	assert.Error(t, g.SetParameterSets([]byte{0x65, 0x88}))
}

func FuzzGate(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88, 0x84, 0, 0, 1, 0x41, 0x9a})
	f.Fuzz(func(t *testing.T, data []byte) {
		var g h264.Gate
		s := h264.NewSplitter(1 << 16)
		for _, au := range append(s.Push(data), s.Flush()...) {
			u, ok, err := g.Pass(au)
			if err != nil {
				continue
			}
			if ok && len(u.Data) == 0 && u.Keyframe {
				t.Fatal("empty keyframe")
			}
		}
	})
}
