package xkb

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Keysym is a keysym's value and the character it stands for (0 for none: dead keys,
// function keys).
type Keysym struct {
	Value uint32
	Rune  rune
}

var defineRE = regexp.MustCompile(`^#define XK_([A-Za-z0-9_]+)\s+0x([0-9a-fA-F]+)\s*(?:/\*[ (]*U\+([0-9A-Fa-f]+))?`)

// ParseKeysymdef reads X11/keysymdef.h: names, values and, from the comments, the Unicode
// character of each keysym that has one.
func ParseKeysymdef(text string) (map[string]Keysym, error) {
	out := map[string]Keysym{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		m := defineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseUint(m[2], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("xkb: keysymdef %q: %w", sc.Text(), err)
		}
		ks := Keysym{Value: uint32(v)}
		if m[3] != "" {
			r, err := strconv.ParseUint(m[3], 16, 32)
			if err != nil {
				return nil, fmt.Errorf("xkb: keysymdef %q: %w", sc.Text(), err)
			}
			ks.Rune = rune(r)
		}
		if _, dup := out[m[1]]; !dup {
			out[m[1]] = ks
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("xkb: no keysyms in keysymdef.h")
	}
	return out, nil
}

// Lookup resolves a keysym name as xkb does: a keysymdef.h name, or Uxxxx for a Unicode
// character (Latin-1 ones are their code points, the rest 0x01000000 + code point).
func Lookup(defs map[string]Keysym, name string) (Keysym, bool) {
	if ks, ok := defs[name]; ok {
		return ks, true
	}
	if len(name) > 1 && name[0] == 'U' {
		cp, err := strconv.ParseUint(name[1:], 16, 32)
		if err == nil && cp <= 0x10FFFF {
			if cp >= 0x20 && cp < 0x7F || cp >= 0xA0 && cp <= 0xFF {
				return Keysym{Value: uint32(cp), Rune: rune(cp)}, true
			}
			return Keysym{Value: 0x01000000 | uint32(cp), Rune: rune(cp)}, true
		}
	}
	if v, err := strconv.ParseUint(name, 0, 32); err == nil && strings.HasPrefix(name, "0x") {
		return Keysym{Value: uint32(v)}, true
	}
	return Keysym{}, false
}
