// Package safetext decides which characters may be stored in text people read later — names,
// labels, emails, agent reports — shown in terminals, tables, logs and pages. It is the one
// definition: agent text is stripped of what it refuses (Clean), what people type is refused
// with the character and its place named (First).
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Hidden reports characters that hide, reorder or break text where it is read: C0 and C1
// controls (NUL, ESC, CR, LF, tab), format characters (bidi overrides such as U+202E,
// zero-width spaces and joiners, U+FEFF) and the line and paragraph separators.
func Hidden(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// Problem is the first character of a text that may not be stored.
type Problem struct {
	Pos         int  // in characters, from 1
	Rune        rune // the character (utf8.RuneError for invalid UTF-8)
	InvalidUTF8 bool
}

// String says what and where: "a right-to-left override (U+202E) at character 5".
func (p Problem) String() string {
	if p.InvalidUTF8 {
		return fmt.Sprintf("invalid UTF-8 at character %d", p.Pos)
	}
	return fmt.Sprintf("%s (U+%04X) at character %d", name(p.Rune), p.Rune, p.Pos)
}

// Allowed says, for error messages, what may be stored instead.
const Allowed = "only printable characters are allowed (letters, digits, punctuation, symbols, spaces)"

// First returns the first character of s that is invalid UTF-8 or Hidden, if any.
func First(s string) (Problem, bool) {
	pos := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		pos++
		switch {
		case r == utf8.RuneError && size <= 1:
			return Problem{Pos: pos, Rune: r, InvalidUTF8: true}, true
		case Hidden(r):
			return Problem{Pos: pos, Rune: r}, true
		}
		i += size
	}
	return Problem{}, false
}

// Clean makes hostile text safe to store and log: invalid UTF-8 becomes U+FFFD, Hidden
// characters are dropped, surrounding space is trimmed, and the result is cut to at most max
// bytes on a character boundary. It reads no more of s than it needs.
func Clean(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if Hidden(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r) // an invalid byte decodes as RuneError and is written as U+FFFD
	}
	return strings.TrimSpace(b.String())
}

// name names the hidden characters people are most likely to meet.
func name(r rune) string {
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
