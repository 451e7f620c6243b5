package device

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestCheckTextAndCleanTextAgree: what an admin's text is refused for is exactly what agent
// text is stripped of, one predicate for both.
func TestCheckTextAndCleanTextAgree(t *testing.T) {
	for _, r := range []rune{0x00, 0x07, 0x09, 0x0a, 0x0d, 0x1b, 0x7f, 0x85, 0x9b, 0x200b, 0x200c, 0x200d, 0x200e,
		0x202a, 0x202e, 0x2028, 0x2029, 0x2066, 0x2069, 0xfeff, 0xe0001} {
		s := "ab" + string(r) + "c"
		err := CheckText("name", s, 64)
		require.ErrorIs(t, err, store.ErrInvalid, "U+%04X", r)
		assert.Contains(t, err.Error(), "at character 3", "U+%04X", r)
		assert.Equal(t, "abc", CleanText(s, 64), "U+%04X", r)
	}
	for _, ok := range []string{"rack12-node3", "Server Zürich 機架 ★", "a b", "x\u00a0y", "emoji 🖥"} {
		assert.NoError(t, CheckText("name", ok, 64), ok)
		assert.Equal(t, ok, CleanText(ok, 64), ok)
	}
}

func TestCheckText(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"", "name must be 1 to 8 bytes (it is 0)"},
		{"123456789", "name must be 1 to 8 bytes (it is 9)"},
		{"ab\xffc", "name has invalid UTF-8 at character 3"},
		{"é\u202eab", "name has a right-to-left override (U+202E) at character 2; only printable characters are allowed"},
	}
	for _, tc := range cases {
		err := CheckText("name", tc.in, 8)
		require.ErrorIs(t, err, store.ErrInvalid, "%q", tc.in)
		assert.True(t, strings.HasPrefix(err.Error(), tc.want), "%q: %v", tc.in, err)
	}
}

func TestCheckFields(t *testing.T) {
	assert.NoError(t, CheckFields("rack", map[string]string{"site": "fra1", "spare": ""}))
	err := CheckFields("rack", map[string]string{"b": "x\ny", "a": "\x1b"})
	require.ErrorIs(t, err, store.ErrInvalid)
	assert.Contains(t, err.Error(), `label "a" value has an escape (ESC)`, "labels checked in key order")
	many := map[string]string{}
	for i := range MaxLabels + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	assert.ErrorIs(t, CheckFields("rack", many), store.ErrInvalid)
	assert.ErrorContains(t, CheckFields("rack", map[string]string{"": "v"}), "label key \"\" must be 1 to 64 bytes")
}
