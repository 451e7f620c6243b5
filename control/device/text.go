package device

import (
	"fmt"
	"maps"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Limits on what an admin may store about a device.
const (
	MaxNameLen   = 128 // bytes
	MaxLabels    = 32
	MaxLabelText = 64 // bytes, per key and per value
)

// hiddenRune reports characters that hide, reorder or break text where people read it (a
// terminal, a table, a log line, a page): C0 and C1 controls (NUL, ESC, CR, LF, tab), format
// characters (bidi overrides such as U+202E, zero-width spaces and joiners, U+FEFF) and the
// line and paragraph separators. Agent text is stripped of them (CleanText); what an admin
// types is refused with CheckText.
func hiddenRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// runeName names the hidden characters people are most likely to meet.
func runeName(r rune) string {
	switch r {
	case 0x00:
		return "a NUL"
	case 0x09:
		return "a tab"
	case 0x0a:
		return "a line feed"
	case 0x0d:
		return "a carriage return"
	case 0x1b:
		return "an escape (ESC)"
	case 0x200b:
		return "a zero-width space"
	case 0x200c, 0x200d:
		return "a zero-width joiner"
	case 0x200e, 0x200f:
		return "a direction mark"
	case 0x202a, 0x202b, 0x202c, 0x2066, 0x2067, 0x2068, 0x2069:
		return "a bidi embedding or isolate"
	case 0x202d:
		return "a left-to-right override"
	case 0x202e:
		return "a right-to-left override"
	case 0x2028, 0x2029:
		return "a line or paragraph separator"
	case 0xfeff:
		return "a zero-width no-break space (BOM)"
	}
	return "a control or format character"
}

// CheckText refuses text an admin gives a device (what names it: "name", `label key "site"`)
// that is empty, longer than max bytes, not UTF-8, or holds a character hiddenRune reports.
// The error says which character, at which position (counted in characters from 1), and what
// is allowed; it wraps store.ErrInvalid.
func CheckText(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1 to %d bytes (it is %d): %w", what, max, len(s), store.ErrInvalid)
	}
	pos := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		pos++
		switch {
		case r == utf8.RuneError && size <= 1:
			return fmt.Errorf("%s is not valid UTF-8 at character %d: %w", what, pos, store.ErrInvalid)
		case hiddenRune(r):
			return fmt.Errorf("%s has %s (U+%04X) at character %d; only printable characters are allowed (letters, digits, punctuation, symbols, spaces): %w",
				what, runeName(r), r, pos, store.ErrInvalid)
		}
		i += size
	}
	return nil
}

// CheckFields checks a device's name and labels as CheckText does, labels in key order so
// the same input always names the same problem.
func CheckFields(name string, labels map[string]string) error {
	if err := CheckText("name", name, MaxNameLen); err != nil {
		return err
	}
	if len(labels) > MaxLabels {
		return fmt.Errorf("at most %d labels (got %d): %w", MaxLabels, len(labels), store.ErrInvalid)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := CheckText(fmt.Sprintf("label key %q", k), k, MaxLabelText); err != nil {
			return err
		}
		if labels[k] == "" {
			continue // a label may have an empty value: "k=" selects on presence
		}
		if err := CheckText(fmt.Sprintf("label %q value", k), labels[k], MaxLabelText); err != nil {
			return err
		}
	}
	return nil
}
