package asciifold

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"Bearer ", "bearer ", true},
		{"video/H264", "VIDEO/h264", true},
		{"mps-GW", "MPS-gw", true},
		{"", "", true},
		{"abc", "abcd", false},
		{"@", "`", false},      // not letters: never folded
		{"[", "{", false},      // ditto
		{"\u212a", "k", false}, // the Kelvin sign folds to k in Unicode, not here
		{"stra\u00dfe", "STRASSE", false},
	} {
		assert.Equal(t, tc.want, Equal(tc.a, tc.b), "%q vs %q", tc.a, tc.b)
	}
}
