package hid

import "fmt"

// CodeToUsage returns a fresh map from KeyboardEvent.code (W3C UI Events KeyboardEvent code
// values) to keyboard-page usage: the full US 104-key layout, the international keys
// (IntlBackslash, IntlRo, IntlYen, Lang1–5…), F13–F24, and the keyboard-page media and editing
// keys. Legacy aliases some browsers still send (OSLeft, VolumeMute…) are included.
// The web console uses the same table; hid/testdata/codes.json is generated from this one.
func CodeToUsage() map[string]Usage {
	m := map[string]Usage{
		// Writing system keys.
		"Backquote":     0x35,
		"Backslash":     0x31,
		"BracketLeft":   0x2F,
		"BracketRight":  0x30,
		"Comma":         0x36,
		"Equal":         0x2E,
		"IntlBackslash": 0x64,
		"IntlRo":        0x87,
		"IntlYen":       0x89,
		"Minus":         0x2D,
		"Period":        0x37,
		"Quote":         0x34,
		"Semicolon":     0x33,
		"Slash":         0x38,
		// Functional keys.
		"AltLeft":      UsageLeftAlt,
		"AltRight":     UsageRightAlt,
		"Backspace":    UsageBackspace,
		"CapsLock":     UsageCapsLock,
		"ContextMenu":  0x65,
		"ControlLeft":  UsageLeftCtrl,
		"ControlRight": UsageRightCtrl,
		"Enter":        UsageEnter,
		"MetaLeft":     UsageLeftGUI,
		"MetaRight":    UsageRightGUI,
		"OSLeft":       UsageLeftGUI,  // legacy Firefox name of MetaLeft
		"OSRight":      UsageRightGUI, // legacy Firefox name of MetaRight
		"ShiftLeft":    UsageLeftShift,
		"ShiftRight":   UsageRightShift,
		"Space":        UsageSpace,
		"Tab":          UsageTab,
		"Convert":      0x8A,
		"KanaMode":     0x88,
		"NonConvert":   0x8B,
		"Lang1":        0x90,
		"Lang2":        0x91,
		"Lang3":        0x92,
		"Lang4":        0x93,
		"Lang5":        0x94,
		// Control pad and arrows.
		"Delete":     UsageDelete,
		"End":        0x4D,
		"Help":       0x75,
		"Home":       0x4A,
		"Insert":     0x49,
		"PageDown":   0x4E,
		"PageUp":     0x4B,
		"ArrowDown":  0x51,
		"ArrowLeft":  0x50,
		"ArrowRight": 0x4F,
		"ArrowUp":    0x52,
		// Numpad (digits below).
		"NumLock":          0x53,
		"NumpadAdd":        0x57,
		"NumpadComma":      0x85,
		"NumpadDecimal":    0x63,
		"NumpadDivide":     0x54,
		"NumpadEnter":      0x58,
		"NumpadEqual":      0x67,
		"NumpadMultiply":   0x55,
		"NumpadParenLeft":  0xB6,
		"NumpadParenRight": 0xB7,
		"NumpadSubtract":   0x56,
		// Function section (F-keys below).
		"Escape":      UsageEscape,
		"PrintScreen": 0x46,
		"ScrollLock":  0x47,
		"Pause":       0x48,
		// Keyboard-page media and editing keys.
		"AudioVolumeMute": 0x7F,
		"AudioVolumeUp":   0x80,
		"AudioVolumeDown": 0x81,
		"VolumeMute":      0x7F, // legacy Firefox names
		"VolumeUp":        0x80,
		"VolumeDown":      0x81,
		"Power":           0x66,
		"Open":            0x74,
		"Select":          0x77,
		"Again":           0x79,
		"Undo":            0x7A,
		"Cut":             0x7B,
		"Copy":            0x7C,
		"Paste":           0x7D,
		"Find":            0x7E,
	}
	for u := UsageA; u <= UsageZ; u++ {
		m[fmt.Sprintf("Key%c", 'A'+rune(u-UsageA))] = u
	}
	for u := Usage1; u <= Usage0; u++ {
		m[fmt.Sprintf("Digit%d", (u-Usage1+1)%10)] = u
	}
	for u := UsageF1; u <= UsageF12; u++ {
		m[fmt.Sprintf("F%d", u-UsageF1+1)] = u
	}
	for u := UsageF13; u <= UsageF24; u++ {
		m[fmt.Sprintf("F%d", u-UsageF13+13)] = u
	}
	for u := Usage(0x59); u <= 0x61; u++ { // Numpad1…Numpad9, then Numpad0 at 0x62
		m[fmt.Sprintf("Numpad%d", u-0x59+1)] = u
	}
	m["Numpad0"] = 0x62
	return m
}
