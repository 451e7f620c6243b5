package hid

// UsageToKeysym returns the X11 keysym that key u produces on a US keyboard, with or without
// Shift, as RFB KeyEvent messages (VNC, Intel AMT) want it; 0 when u has none. Keypad keys
// report their digit keysyms whatever Shift says: Num Lock on the target decides.
func UsageToKeysym(u Usage, shift bool) uint32 {
	plain, shifted := usLegend(u)
	if plain == 0 {
		plain, shifted = intlLegend(u)
	}
	if plain != 0 {
		// Printable ASCII keysyms equal their code points.
		if shift {
			return uint32(shifted)
		}
		return uint32(plain)
	}
	switch {
	case u >= UsageF1 && u <= UsageF12:
		return 0xFFBE + uint32(u-UsageF1)
	case u >= UsageF13 && u <= UsageF24:
		return 0xFFCA + uint32(u-UsageF13)
	case u >= 0x59 && u <= 0x61: // Numpad1…Numpad9
		return 0xFFB1 + uint32(u-0x59)
	}
	return specialKeysym(u)
}

// intlLegend returns the characters of keys a US keyboard lacks, as the X11 layouts that have
// them type them (pc105 for IntlBackslash, jp for IntlRo and IntlYen).
func intlLegend(u Usage) (plain, shifted rune) {
	switch u {
	case 0x64: // IntlBackslash
		return '<', '>'
	case 0x87: // IntlRo
		return '\\', '_'
	case 0x89: // IntlYen
		return '\\', '|'
	case 0xB6: // NumpadParenLeft
		return '(', '('
	case 0xB7: // NumpadParenRight
		return ')', ')'
	}
	return 0, 0
}

// specialKeysym covers the keys without a character legend, from X11 keysymdef.h and
// XF86keysym.h.
func specialKeysym(u Usage) uint32 {
	switch u {
	case UsageEnter:
		return 0xFF0D // Return
	case UsageEscape:
		return 0xFF1B
	case UsageBackspace:
		return 0xFF08
	case UsageTab:
		return 0xFF09
	case UsageCapsLock:
		return 0xFFE5
	case 0x46:
		return 0xFF61 // Print
	case 0x47:
		return 0xFF14 // Scroll_Lock
	case 0x48:
		return 0xFF13 // Pause
	case 0x49:
		return 0xFF63 // Insert
	case 0x4A:
		return 0xFF50 // Home
	case 0x4B:
		return 0xFF55 // Prior (Page Up)
	case UsageDelete:
		return 0xFFFF
	case 0x4D:
		return 0xFF57 // End
	case 0x4E:
		return 0xFF56 // Next (Page Down)
	case 0x4F:
		return 0xFF53 // Right
	case 0x50:
		return 0xFF51 // Left
	case 0x51:
		return 0xFF54 // Down
	case 0x52:
		return 0xFF52 // Up
	case 0x53:
		return 0xFF7F // Num_Lock
	case 0x54:
		return 0xFFAF // KP_Divide
	case 0x55:
		return 0xFFAA // KP_Multiply
	case 0x56:
		return 0xFFAD // KP_Subtract
	case 0x57:
		return 0xFFAB // KP_Add
	case 0x58:
		return 0xFF8D // KP_Enter
	case 0x62:
		return 0xFFB0 // KP_0
	case 0x63:
		return 0xFFAE // KP_Decimal
	case 0x65:
		return 0xFF67 // Menu
	case 0x66:
		return 0x1008FF2A // XF86PowerOff
	case 0x67:
		return 0xFFBD // KP_Equal
	case 0x74:
		return 0xFF62 // Execute
	case 0x75:
		return 0xFF6A // Help
	case 0x77:
		return 0xFF60 // Select
	case 0x79:
		return 0xFF66 // Redo (Again)
	case 0x7A:
		return 0xFF65 // Undo
	case 0x7B:
		return 0x1008FF58 // XF86Cut
	case 0x7C:
		return 0x1008FF57 // XF86Copy
	case 0x7D:
		return 0x1008FF6D // XF86Paste
	case 0x7E:
		return 0xFF68 // Find
	case 0x7F:
		return 0x1008FF12 // XF86AudioMute
	case 0x80:
		return 0x1008FF13 // XF86AudioRaiseVolume
	case 0x81:
		return 0x1008FF11 // XF86AudioLowerVolume
	case 0x85:
		return 0xFFAC // KP_Separator (NumpadComma)
	case 0x88:
		return 0xFF27 // Hiragana_Katakana (KanaMode)
	case 0x8A:
		return 0xFF23 // Henkan (Convert)
	case 0x8B:
		return 0xFF22 // Muhenkan (NonConvert)
	case 0x90:
		return 0xFF31 // Hangul (Lang1)
	case 0x91:
		return 0xFF34 // Hangul_Hanja (Lang2)
	case 0x92:
		return 0xFF26 // Katakana (Lang3)
	case 0x93:
		return 0xFF25 // Hiragana (Lang4)
	case 0x94:
		return 0xFF2A // Zenkaku_Hankaku (Lang5)
	case UsageLeftCtrl:
		return 0xFFE3
	case UsageLeftShift:
		return 0xFFE1
	case UsageLeftAlt:
		return 0xFFE9
	case UsageLeftGUI:
		return 0xFFEB // Super_L
	case UsageRightCtrl:
		return 0xFFE4
	case UsageRightShift:
		return 0xFFE2
	case UsageRightAlt:
		return 0xFFEA
	case UsageRightGUI:
		return 0xFFEC // Super_R
	}
	return 0
}
