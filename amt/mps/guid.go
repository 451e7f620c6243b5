package mps

import "fmt"

// normGUID checks that guid is a UUID (8-4-4-4-12 hex digits) and lowercases it: MPS keys
// its connected devices by the lowercase GUID and compares route parameters verbatim.
func normGUID(guid string) (string, error) {
	if len(guid) != 36 {
		return "", fmt.Errorf("mps: %q is not a device GUID (want 8-4-4-4-12 hex digits)", guid)
	}
	b := []byte(guid)
	for i, ch := range b {
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return "", fmt.Errorf("mps: %q is not a device GUID (want 8-4-4-4-12 hex digits)", guid)
			}
			continue
		}
		switch {
		case ch >= '0' && ch <= '9', ch >= 'a' && ch <= 'f':
		case ch >= 'A' && ch <= 'F':
			b[i] = ch + ('a' - 'A')
		default:
			return "", fmt.Errorf("mps: %q is not a device GUID (want 8-4-4-4-12 hex digits)", guid)
		}
	}
	return string(b), nil
}
