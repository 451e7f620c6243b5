package hid_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
)

func TestLayoutEnUSTypesPrintableASCII(t *testing.T) {
	l := hid.LayoutEnUS()
	for r := rune(' '); r <= '~'; r++ {
		s, ok := l.Stroke(r)
		require.True(t, ok, "%q", r)
		// ASCII keysyms equal code points, so the keysym table checks the layout.
		assert.Equal(t, uint32(r), hid.UsageToKeysym(s.Usage, s.Shift), "%q typed as %+v", r, s)
	}
}

func TestLayoutEnUS(t *testing.T) {
	tests := []struct {
		r    rune
		want hid.Stroke
		ok   bool
	}{
		{'a', hid.Stroke{Usage: hid.UsageA}, true},
		{'Z', hid.Stroke{Usage: hid.UsageZ, Shift: true}, true},
		{'0', hid.Stroke{Usage: hid.Usage0}, true},
		{')', hid.Stroke{Usage: hid.Usage0, Shift: true}, true},
		{'\\', hid.Stroke{Usage: 0x31}, true}, // Backslash, not Non-US #
		{' ', hid.Stroke{Usage: hid.UsageSpace}, true},
		{'\n', hid.Stroke{Usage: hid.UsageEnter}, true},
		{'\r', hid.Stroke{Usage: hid.UsageEnter}, true},
		{'\t', hid.Stroke{Usage: hid.UsageTab}, true},
		{'\x00', hid.Stroke{}, false},
		{'\x1b', hid.Stroke{}, false},
		{'\x7f', hid.Stroke{}, false},
		{'é', hid.Stroke{}, false},
		{'€', hid.Stroke{}, false},
	}
	for _, tt := range tests {
		s, ok := hid.LayoutEnUS().Stroke(tt.r)
		assert.Equal(t, tt.ok, ok, "%q", tt.r)
		assert.Equal(t, tt.want, s, "%q", tt.r)
	}
}

func TestWalkText(t *testing.T) {
	var got []hid.Stroke
	typed, skipped, done := hid.WalkText(hid.LayoutEnUS(), "a\r\nb\rc\n\né€\x00", func(s hid.Stroke) bool {
		got = append(got, s)
		return true
	})
	enter := hid.Stroke{Usage: hid.UsageEnter}
	assert.Equal(t, []hid.Stroke{{Usage: hid.UsageA}, enter, {Usage: 0x05}, enter, {Usage: 0x06}, enter, enter}, got)
	assert.Equal(t, 7, typed)
	assert.Equal(t, 3, skipped)
	assert.True(t, done)

	typed, _, done = hid.WalkText(hid.LayoutEnUS(), "abc", func(hid.Stroke) bool { return false })
	assert.Zero(t, typed)
	assert.False(t, done)
}
