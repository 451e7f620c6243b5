package hid

// Keyboard-page usages the package refers to by name. The full KeyboardEvent.code table is
// CodeToUsage; these are the ones code in this package needs.
const (
	UsageA         Usage = 0x04
	UsageZ         Usage = 0x1D
	Usage1         Usage = 0x1E
	Usage0         Usage = 0x27
	UsageEnter     Usage = 0x28
	UsageEscape    Usage = 0x29
	UsageBackspace Usage = 0x2A
	UsageTab       Usage = 0x2B
	UsageSpace     Usage = 0x2C
	UsageCapsLock  Usage = 0x39
	UsageF1        Usage = 0x3A
	UsageF12       Usage = 0x45
	UsageF13       Usage = 0x68
	UsageF24       Usage = 0x73
	UsageDelete    Usage = 0x4C
)

// Valid reports whether u names a key on the keyboard page: 0x00–0x03 are "no key" and error
// codes, 0xA5–0xAF and 0xDE–0xDF are reserved, and nothing above the modifiers is defined.
func (u Usage) Valid() bool {
	switch {
	case u < UsageA, u > UsageRightGUI:
		return false
	case u >= 0xA5 && u <= 0xAF, u == 0xDE, u == 0xDF:
		return false
	}
	return true
}

// IsModifier reports whether u is one of the eight modifier keys (0xE0–0xE7).
func (u Usage) IsModifier() bool { return u >= UsageLeftCtrl && u <= UsageRightGUI }
