package safetext

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFirst(t *testing.T) {
	cases := []struct {
		in   string
		want string // "" when fine
	}{
		{"rack12-node3", ""},
		{"Server Zürich 機架 ★ 🖥", ""},
		{"x\u00a0y", ""}, // a no-break space is a space
		{"rack\x00", "a NUL (U+0000) at character 5"},
		{"é\x1b[2J", "an escape (ESC) (U+001B) at character 2"},
		{"a\r\nb", "a carriage return (U+000D) at character 2"},
		{"gpu-\u202e1", "a right-to-left override (U+202E) at character 5"},
		{"r\u200back", "a zero-width space (U+200B) at character 2"},
		{"\ufeffx", "a zero-width no-break space (BOM) (U+FEFF) at character 1"},
		{"a\u2028b", "a line or paragraph separator (U+2028) at character 2"},
		{"a\u0085b", "a control or format character (U+0085) at character 2"},
		{"ab\xffc", "invalid UTF-8 at character 3"},
	}
	for _, tc := range cases {
		p, bad := First(tc.in)
		if tc.want == "" {
			assert.False(t, bad, "%q", tc.in)
			continue
		}
		if assert.True(t, bad, "%q", tc.in) {
			assert.Equal(t, tc.want, p.String(), "%q", tc.in)
		}
	}
}

// TestCleanDropsWhatFirstRefuses: one rule for both.
func TestCleanDropsWhatFirstRefuses(t *testing.T) {
	for r := rune(0); r < 0x30000; r++ {
		s := "a" + string(r) + "b"
		_, bad := First(s)
		clean := Clean(s, 64)
		if bad {
			assert.Equal(t, "ab", clean, "U+%04X", r)
		} else if r != ' ' && !(r >= 0xd800 && r <= 0xdfff) {
			assert.Equal(t, s, clean, "U+%04X", r)
		}
	}
	assert.Equal(t, "a\ufffdb", Clean("a\xffb", 64), "invalid UTF-8 is replaced, not passed")
	assert.Equal(t, "ab", Clean("  ab\n ", 64))
	assert.Equal(t, "ab", Clean("abc", 2))
}
