package sfu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeqUnwrapper(t *testing.T) {
	cases := []struct {
		name        string
		seqs        []uint16
		wantDelta   []int64 // ext minus the first packet's ext
		wantNewer   []bool
		wantRestart []bool
	}{
		{"in order", []uint16{10, 11, 12}, []int64{0, 1, 2}, []bool{true, true, true}, []bool{true, false, false}},
		{"wraps forward", []uint16{65534, 65535, 0, 1}, []int64{0, 1, 2, 3}, []bool{true, true, true, true}, []bool{true, false, false, false}},
		{"late across the wrap", []uint16{0, 1, 65535, 2}, []int64{0, 1, -1, 2}, []bool{true, true, false, true}, []bool{true, false, false, false}},
		{"duplicate is not newer", []uint16{5, 6, 6}, []int64{0, 1, 1}, []bool{true, true, false}, []bool{true, false, false}},
		{"gap within reach", []uint16{100, 100 + maxSeqJump}, []int64{0, maxSeqJump}, []bool{true, true}, []bool{true, false}},
		{"jump past reach restarts", []uint16{100, 101 + maxSeqJump, 102 + maxSeqJump}, nil, []bool{true, true, true}, []bool{true, true, false}},
		{"far behind restarts", []uint16{40000, 40000 - maxSeqJump - 1}, nil, []bool{true, true}, []bool{true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var u seqUnwrapper
			var first, prev uint64
			for i, s := range tc.seqs {
				ext, newer, restart := u.unwrap(s)
				if i == 0 {
					first = ext
				}
				assert.Equal(t, s, uint16(ext), "packet %d keeps its low bits", i)
				if tc.wantDelta != nil {
					assert.Equal(t, tc.wantDelta[i], int64(ext-first), "packet %d", i)
				}
				if restart && i > 0 {
					assert.Greater(t, ext, prev, "a restart still moves forward")
				}
				assert.Equal(t, tc.wantNewer[i], newer, "newer %d", i)
				assert.Equal(t, tc.wantRestart[i], restart, "restart %d", i)
				prev = ext
			}
		})
	}
}

// TestMungerContiguousAcrossDrops feeds upstream numbers through the unwrapper, drops whole
// frames the way keyframes-only mode does, and checks every sent number follows the one
// before: across drops, across the 16-bit wrap on both sides, across a restart.
func TestMungerContiguousAcrossDrops(t *testing.T) {
	cases := []struct {
		name            string
		upstreamStart   uint16
		viewerStart     uint16
		packets         int
		dropEvery, keep int // of each dropEvery packets, the first keep are sent
	}{
		{"no drops", 1000, 7, 500, 1, 1},
		{"drop half", 1000, 7, 500, 10, 5},
		{"keyframes only", 1000, 7, 2000, 100, 8},
		{"upstream wraps", 65000, 7, 2000, 10, 3},
		{"viewer wraps", 1000, 65530, 2000, 10, 3},
		{"both wrap", 65500, 65400, 3000, 7, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var u seqUnwrapper
			m := newMunger(tc.viewerStart)
			now := time.Unix(0, 0)
			var out []uint16
			for i := 0; i < tc.packets; i++ {
				ext, newer, restart := u.unwrap(tc.upstreamStart + uint16(i))
				require.True(t, newer)
				if restart {
					m.rebase(ext, 0, now, 90000)
				}
				if i%tc.dropEvery < tc.keep {
					seq, _ := m.send(ext, 0, now)
					out = append(out, seq)
				} else {
					m.drop(ext)
				}
			}
			require.NotEmpty(t, out)
			assert.Equal(t, tc.viewerStart, out[0])
			for i := 1; i < len(out); i++ {
				require.Equal(t, out[i-1]+1, out[i], "packet %d follows packet %d", i, i-1)
			}
		})
	}
}

func TestMungerUpstreamGapsAndLatePackets(t *testing.T) {
	m := newMunger(500)
	m.rebase(100, 0, time.Time{}, 90000)
	at := time.Time{}
	send := func(ext uint64) uint16 { s, _ := m.send(ext, 0, at); return s }
	assert.Equal(t, uint16(500), send(100))
	assert.Equal(t, uint16(501), send(101))
	// 102 and 103 lost upstream: the gap stays, so the viewer NACKs and a late copy fits.
	assert.Equal(t, uint16(504), send(104))
	seq, _, ok := m.late(102, 0)
	require.True(t, ok)
	assert.Equal(t, uint16(502), seq)
	// A frame dropped for the viewer, with a lost packet (106) before it.
	m.drop(107)
	m.drop(108)
	assert.Equal(t, uint16(505), send(109), "the drop and the gap before it leave no hole")
	_, _, ok = m.late(106, 0)
	assert.False(t, ok, "a late packet from a dropped stretch has no number left")
	_, _, ok = m.late(108, 0)
	assert.False(t, ok)
	seq, _, ok = m.late(103, 0)
	require.True(t, ok, "an older run is still remembered")
	assert.Equal(t, uint16(503), seq)
	_, _, ok = m.late(99, 0)
	assert.False(t, ok, "before the first packet sent")
}

func TestMungerForgetsOldRuns(t *testing.T) {
	m := newMunger(0)
	m.rebase(10, 0, time.Time{}, 90000)
	ext := uint64(10)
	for range maxRuns + 2 { // each send after a drop opens a run
		m.send(ext, 0, time.Time{})
		m.drop(ext + 1)
		ext += 2
	}
	_, _, ok := m.late(10, 0)
	assert.False(t, ok, "the oldest runs are forgotten")
	_, _, ok = m.late(ext-2, 0)
	assert.True(t, ok, "the newest is kept")
}

func TestMungerRebaseContinuesClock(t *testing.T) {
	m := newMunger(1)
	t0 := time.Unix(100, 0)
	m.rebase(1000, 5000, t0, 90000)
	seq, ts := m.send(1000, 5000, t0)
	assert.Equal(t, uint16(1), seq)
	assert.Equal(t, uint32(5000), ts, "the first numbering keeps the upstream clock")
	_, ts = m.send(1001, 8000, t0.Add(33*time.Millisecond))
	assert.Equal(t, uint32(8000), ts)

	// The upstream restarts with another numbering and clock, 100 ms later.
	t1 := t0.Add(133 * time.Millisecond)
	m.rebase(77, 1_000_000, t1, 90000)
	seq, ts = m.send(77, 1_000_000, t1)
	assert.Equal(t, uint16(3), seq)
	assert.Equal(t, uint32(8000+9000), ts, "100 ms of 90 kHz after the last")
	_, ts = m.send(78, 1_003_000, t1)
	assert.Equal(t, uint32(8000+9000+3000), ts, "later timestamps keep their spacing")
}
