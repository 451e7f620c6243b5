package enroll

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Relay-supplied error text reaches the operator's terminal: it is one line of printable
// characters, by the same rule the relay applies to what it stores (internal/safetext).
func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "enrollment token expired", 200, "enrollment token expired"},
		{"escape sequences", "bad\x1b[2J token", 200, "bad[2J token"},
		{"line breaks", "line one\r\nline two", 200, "line oneline two"},
		{"bidi override and zero width", "evil\u202etxt.exe\u200b", 200, "eviltxt.exe"},
		{"cut, and says so", strings.Repeat("a", 20), 8, strings.Repeat("a", 8) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, printable(tc.in, tc.max))
		})
	}
}
