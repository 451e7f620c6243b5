// Package asciifold compares text ignoring the case of ASCII letters only: HTTP scheme names,
// codec names, and device names (unique per organization ignoring A–Z case, as the stores'
// indexes decide), where Unicode case folding would match what those rules keep apart.
package asciifold

// Equal reports whether a and b are equal ignoring the case of A–Z.
func Equal(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
