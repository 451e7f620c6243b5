package hid

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

//go:generate go run ./internal/genlayouts -o layout_tables.go

// Stroke is one key press: the key, with Shift and AltGr (Right Alt) held around it as needed.
type Stroke struct {
	Usage Usage
	Shift bool
	AltGr bool
}

// Keystroke is how to type one character: Key, after Dead when the layout composes the
// character from a dead key and a base key (é on a German layout: ´ then e).
type Keystroke struct {
	Dead Stroke // zero Usage when there is no dead key
	Key  Stroke
}

// Strokes returns the key presses in order.
func (k Keystroke) Strokes() []Stroke {
	if k.Dead.Usage == 0 {
		return []Stroke{k.Key}
	}
	return []Stroke{k.Dead, k.Key}
}

// Layout is the keyboard layout the target machine is set to, following the X11 xkb layout of
// the same country (layout_tables.go is generated from xkeyboard-config): which keys type a
// character when pasting text, and which keysym a key produces for RFB targets. A Layout is
// immutable and safe for concurrent use.
type Layout struct {
	name, xkb           string
	present             [256]bool
	syms                [256][4]uint32 // by usage and level: none, Shift, AltGr, AltGr+Shift
	rightAlt, kpDecimal uint32
	strokes             map[rune]Keystroke
	compose             map[[2]uint32]rune // by dead keysym and base keysym
}

// ErrUnknownLayout is returned by LayoutByName for a name it does not know.
var ErrUnknownLayout = errors.New("hid: unknown keyboard layout")

// LayoutNames returns the names LayoutByName knows: "en-US", "de-DE"…
func LayoutNames() []string { return layoutNames() }

// LayoutByName returns a layout by its name ("de-DE", case insensitive) or its xkb name ("de").
func LayoutByName(name string) (*Layout, error) {
	for _, n := range layoutNames() {
		d, _ := layoutTable(n)
		if strings.EqualFold(name, n) || strings.EqualFold(name, d.xkb) {
			return newLayout(d), nil
		}
	}
	return nil, fmt.Errorf("%w %q; known: %s", ErrUnknownLayout, name, strings.Join(layoutNames(), ", "))
}

// LayoutEnUS returns the US English layout.
func LayoutEnUS() *Layout {
	d, ok := layoutTable("en-US")
	if !ok {
		panic("hid: en-US missing from the generated layout tables")
	}
	return newLayout(d)
}

// Name returns the layout's name: "de-DE".
func (l *Layout) Name() string { return l.name }

// Strokes returns how to type r, or false when the layout cannot type it. Newline and
// carriage return type Enter, tab types Tab.
func (l *Layout) Strokes(r rune) (Keystroke, bool) {
	switch r {
	case '\n', '\r':
		return Keystroke{Key: Stroke{Usage: UsageEnter}}, true
	case '\t':
		return Keystroke{Key: Stroke{Usage: UsageTab}}, true
	}
	k, ok := l.strokes[r]
	return k, ok
}

// maxUntypable bounds Untypable's answer.
const maxUntypable = 64

// Untypable returns the distinct characters of text the layout cannot type, in order of first
// appearance, at most 64: what a paste would skip.
func (l *Layout) Untypable(text string) []rune {
	var out []rune
	for _, r := range text {
		if _, ok := l.Strokes(r); !ok && !slices.Contains(out, r) {
			out = append(out, r)
			if len(out) == maxUntypable {
				break
			}
		}
	}
	return out
}

// Keysym returns the X11 keysym key u produces on this layout with Shift and AltGr as given,
// Caps Lock off: dead keys give dead keysyms (dead_acute 0xfe51), characters their keysyms
// (Latin-1 ones equal their code points, others are 0x01000000 + code point or a legacy
// keysym such as EuroSign), other keys as UsageToKeysym; 0 when the key types nothing there.
// An RFB server maps the keysym back to a key with its own keymap.
func (l *Layout) Keysym(u Usage, shift, altgr bool) uint32 {
	if u <= 0xFF && l.present[u] {
		return l.syms[u][level(shift, altgr)]
	}
	switch u {
	case UsageRightAlt:
		return l.rightAlt
	case 0x63: // NumpadDecimal, with Num Lock on as for the other keypad keys
		return l.kpDecimal
	}
	return UsageToKeysym(u, shift)
}

// KeysymFor is l.Keysym; a nil layout is en-US.
func KeysymFor(l *Layout, u Usage, shift, altgr bool) uint32 {
	if l == nil {
		return UsageToKeysym(u, shift)
	}
	return l.Keysym(u, shift, altgr)
}

func level(shift, altgr bool) int {
	l := 0
	if shift {
		l |= 1
	}
	if altgr {
		l |= 2
	}
	return l
}

// keyLegend is what one key types on a layout at each level.
type keyLegend struct {
	usage Usage
	syms  [4]uint32
	// generic has bit n set when level n is only inherited: an AltGr character of xkb's
	// generic latin layout that the country's keyboards do not print (Windows has no AltGr+Q = @
	// on Swedish), or an ISO or JIS key typing what the US layout gives it (US keyboards have no
	// IntlBackslash). A typist uses them only when nothing else types the character.
	generic uint8
}

// layoutData is one layout of the generated tables.
type layoutData struct {
	name, xkb           string
	rightAlt, kpDecimal uint32
	keys                []keyLegend // in usage order
}

// composition is a dead-key sequence: dead then base types r.
type composition struct {
	dead, base uint32
	r          rune
}

// nonUSHash is Non-US # (0x32): hosts take it as Backslash (0x31), and so does the table.
const nonUSHash Usage = 0x32

func newLayout(d layoutData) *Layout {
	l := &Layout{name: d.name, xkb: d.xkb, rightAlt: d.rightAlt, kpDecimal: d.kpDecimal,
		strokes: map[rune]Keystroke{}, compose: map[[2]uint32]rune{}}
	for _, k := range d.keys {
		l.present[k.usage], l.syms[k.usage] = true, k.syms
	}
	if l.present[0x31] && !l.present[nonUSHash] {
		l.present[nonUSHash], l.syms[nonUSHash] = true, l.syms[0x31]
	}
	// The first key that types a keysym, trying fewer modifiers first and the keys of a US
	// keyboard before the extra ISO and JIS ones (they come later in usage order), all the
	// layout's own keys before its generic ones (see keyLegend.generic).
	bySym := map[uint32]Stroke{}
	for _, generic := range []bool{false, true} {
		for lvl := range 4 {
			for _, k := range d.keys {
				if k.generic&(1<<lvl) != 0 == generic {
					l.add(bySym, k, lvl)
				}
			}
		}
	}
	for _, c := range compositions() {
		dead, ok1 := bySym[c.dead]
		base, ok2 := bySym[c.base]
		if !ok1 || !ok2 {
			continue
		}
		l.compose[[2]uint32{c.dead, c.base}] = c.r
		if _, ok := l.strokes[c.r]; !ok {
			l.strokes[c.r] = Keystroke{Dead: dead, Key: base}
		}
	}
	return l
}

// add records the stroke of key k at level lvl for its keysym and character, unless a stroke
// was found before.
func (l *Layout) add(bySym map[uint32]Stroke, k keyLegend, lvl int) {
	ks := k.syms[lvl]
	if _, ok := bySym[ks]; ks == 0 || ok {
		return
	}
	s := Stroke{Usage: k.usage, Shift: lvl&1 != 0, AltGr: lvl&2 != 0}
	bySym[ks] = s
	if r := keysymRune(ks); r != 0 {
		if _, ok := l.strokes[r]; !ok {
			l.strokes[r] = Keystroke{Key: s}
		}
	}
}

// keysymRune returns the character a keysym types, or 0 for keysyms that type none (dead keys,
// function keys) or that the layouts do not use.
func keysymRune(ks uint32) rune {
	switch {
	case ks >= 0x20 && ks <= 0x7E, ks >= 0xA0 && ks <= 0xFF:
		return rune(ks)
	case ks >= 0x01000100 && ks <= 0x0110FFFF:
		return rune(ks - 0x01000000)
	}
	return legacyKeysymRune(ks)
}

// usLegendLast is the last usage with a character legend on a US keyboard (Slash).
const usLegendLast Usage = 0x38

// usLegend returns the characters a US keyboard types with key u, without and with Shift, or
// zeros for keys that type no character: the fast path of UsageToKeysym.
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

// walkText calls stroke for each key press that types text on the layout, in order, until
// stroke returns false. "\r\n" types one Enter; characters the layout cannot type are skipped.
// It returns how many characters were typed and skipped and whether it got to the end.
func walkText(l *Layout, text string, stroke func(Stroke) bool) (typed, skipped int, done bool) {
	for i, r := range text {
		if r == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			continue
		}
		k, ok := l.Strokes(r)
		if !ok {
			skipped++
			continue
		}
		if k.Dead.Usage != 0 && !stroke(k.Dead) {
			return typed, skipped, false
		}
		if !stroke(k.Key) {
			return typed, skipped, false
		}
		typed++
	}
	return typed, skipped, true
}
