package hid_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/hid"
)

func TestSeqNewer(t *testing.T) {
	tests := []struct {
		a, b uint16
		want bool
	}{
		{1, 0, true},
		{0, 1, false},
		{5, 5, false},
		{0, 0xFFFF, true}, // wrapped
		{0xFFFF, 0, false},
		{0x10, 0xFFF0, true},
		{0x7FFF, 0, true},  // furthest ahead still newer
		{0x8000, 0, false}, // exactly half: undefined in RFC 1982, treated as not newer
		{0, 0x8000, false},
		{0x8001, 0, false}, // more than half ahead means behind
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hid.SeqNewer(tt.a, tt.b), "SeqNewer(%#x, %#x)", tt.a, tt.b)
	}
}

func TestSeqFilterWrapAround(t *testing.T) {
	var f hid.SeqFilter
	steps := []struct {
		seq  uint16
		want bool
	}{
		{0xFFF0, true}, // first one is always taken
		{0xFFFF, true},
		{0xFFF5, false}, // reordered, older
		{0x0000, true},  // wraps
		{0x0005, true},
		{0xFFFE, false}, // from before the wrap
		{0x0005, false}, // duplicate
		{0x0004, false},
		{0x0006, true},
	}
	for i, s := range steps {
		assert.Equal(t, s.want, f.Accept(s.seq), "step %d seq %#x", i, s.seq)
	}
}

func TestSeqFilterResyncsAfterCounterRestart(t *testing.T) {
	var f hid.SeqFilter
	assert.True(t, f.Accept(20000))
	// A console that restarts at 0 looks 20000 behind. A long run of stale moves means the
	// counter restarted, so the filter follows it rather than freezing the pointer.
	for seq := uint16(0); seq < 63; seq++ {
		assert.False(t, f.Accept(seq), "seq %d", seq)
	}
	assert.True(t, f.Accept(63))
	assert.True(t, f.Accept(64))
	assert.False(t, f.Accept(62))
}
