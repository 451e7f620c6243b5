package hid

// Stroke is one key press that types a character: the key, with or without Shift.
type Stroke struct {
	Usage Usage
	Shift bool
}

// Layout maps characters to key strokes for the keyboard layout the target expects.
type Layout interface {
	// Stroke returns how to type r, or false when the layout has no key for it.
	Stroke(r rune) (Stroke, bool)
}

// LayoutEnUS returns the US English layout: printable ASCII, newline (Enter) and tab.
func LayoutEnUS() Layout { return enUS{} }

type enUS struct{}

func (enUS) Stroke(r rune) (Stroke, bool) {
	switch r {
	case '\n', '\r':
		return Stroke{Usage: UsageEnter}, true
	case '\t':
		return Stroke{Usage: UsageTab}, true
	}
	if r < ' ' || r > '~' {
		return Stroke{}, false
	}
	// The keycap legends in usLegend are the one source for both directions.
	for u := UsageA; u <= usLegendLast; u++ {
		switch plain, shifted := usLegend(u); r {
		case plain:
			return Stroke{Usage: u}, true
		case shifted:
			return Stroke{Usage: u, Shift: true}, true
		}
	}
	return Stroke{}, false
}

// usLegendLast is the last usage with a character legend on a US keyboard (Slash).
const usLegendLast Usage = 0x38

// usLegend returns the characters a US keyboard types with key u, without and with Shift, or
// zeros for keys that type no character.
func usLegend(u Usage) (plain, shifted rune) {
	switch {
	case u >= UsageA && u <= UsageZ:
		r := 'a' + rune(u-UsageA)
		return r, r - 'a' + 'A'
	case u >= Usage1 && u <= Usage0:
		return rune("1234567890"[u-Usage1]), rune("!@#$%^&*()"[u-Usage1])
	}
	switch u {
	case UsageSpace:
		return ' ', ' '
	case 0x2D:
		return '-', '_'
	case 0x2E:
		return '=', '+'
	case 0x2F:
		return '[', '{'
	case 0x30:
		return ']', '}'
	case 0x31, 0x32: // Backslash; Non-US # is the same key on US layouts
		return '\\', '|'
	case 0x33:
		return ';', ':'
	case 0x34:
		return '\'', '"'
	case 0x35:
		return '`', '~'
	case 0x36:
		return ',', '<'
	case 0x37:
		return '.', '>'
	case 0x38:
		return '/', '?'
	}
	return 0, 0
}

// walkText calls stroke for each character of text the layout can type, in order, until stroke
// returns false. "\r\n" types one Enter. It returns how many characters were typed and skipped
// and whether it got to the end.
func walkText(l Layout, text string, stroke func(Stroke) bool) (typed, skipped int, done bool) {
	for i, r := range text {
		if r == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			continue
		}
		s, ok := l.Stroke(r)
		if !ok {
			skipped++
			continue
		}
		if !stroke(s) {
			return typed, skipped, false
		}
		typed++
	}
	return typed, skipped, true
}
