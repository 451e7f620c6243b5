package testpattern

import "github.com/kvmrelay/kvmrelay/hid"

// Keys with their own handling; the rest of the en-US table is in char.
const (
	usageEnter     hid.Usage = 0x28
	usageBackspace hid.Usage = 0x2A
	usageTab       hid.Usage = 0x2B
	usageSpace     hid.Usage = 0x2C
	usageCapsLock  hid.Usage = 0x39
	usageKPEnter   hid.Usage = 0x58
)

// Punctuation keys 0x2D…0x38 on an en-US keyboard, unshifted and shifted. 0x32 (non-US #) is
// absent from US keyboards; browsers map it like backslash.
const (
	punct        = "-=[]\\\\;'`,./"
	punctShifted = "_+{}||:\"~<>?"
	digits       = "1234567890"
	digitsShift  = "!@#$%^&*()"
	keypad       = "/*-+\x001234567890." // 0x54…0x63; 0x58 is keypad Enter
)

// char returns the ASCII character an en-US keyboard types for usage with the given shift and
// caps-lock state, or 0 for keys that type nothing. The keypad types digits (as with Num Lock).
func char(u hid.Usage, shift, caps bool) byte {
	switch {
	case u >= 0x04 && u <= 0x1D:
		c := byte('a' + u - 0x04)
		if shift != caps {
			c -= 'a' - 'A'
		}
		return c
	case u >= 0x1E && u <= 0x27:
		if shift {
			return digitsShift[u-0x1E]
		}
		return digits[u-0x1E]
	case u == usageSpace, u == usageTab:
		return ' '
	case u >= 0x2D && u <= 0x38:
		if shift {
			return punctShifted[u-0x2D]
		}
		return punct[u-0x2D]
	case u >= 0x54 && u <= 0x63:
		return keypad[u-0x54]
	}
	return 0
}
