package xkb

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Keymap is the part of a compiled keymap the layout tables need: the key types and the
// first group's symbols of each key.
type Keymap struct {
	Types map[string]Type
	Keys  map[string]Key // by key name: "AD01"
}

// Type is a key type: which modifiers it looks at and the level each combination selects.
type Type struct {
	Mods   map[string]bool
	Levels map[string]int // by canonical modifier set ("LevelThree+Shift"), 1-based
}

// Key is one key's first group.
type Key struct {
	Type    string   // explicit type, "" for automatic
	Symbols []string // keysym names by level, "NoSymbol" for none
}

var (
	typeRE   = regexp.MustCompile(`(?s)type "([^"]+)" \{(.*?)\};`)
	modsRE   = regexp.MustCompile(`modifiers\s*=\s*([^;]+);`)
	mapRE    = regexp.MustCompile(`map\[([^\]]+)\]\s*=\s*(?:Level)?(\d+);`)
	keyRE    = regexp.MustCompile(`(?s)key <([A-Za-z0-9_+-]+)>\s*\{(.*?)\};`)
	keyTypRE = regexp.MustCompile(`type(?:\[Group1\])?\s*=\s*"([^"]+)"`)
	listRE   = regexp.MustCompile(`\[\s*([^\]]*?)\s*\]`)
)

// ParseKeymap parses the text of xkbcli compile-keymap (or xkbcomp -xkb).
func ParseKeymap(text string) (*Keymap, error) {
	types, ok := section(text, "xkb_types")
	if !ok {
		return nil, fmt.Errorf("xkb: no xkb_types section")
	}
	symbols, ok := section(text, "xkb_symbols")
	if !ok {
		return nil, fmt.Errorf("xkb: no xkb_symbols section")
	}
	km := &Keymap{Types: map[string]Type{}, Keys: map[string]Key{}}
	for _, m := range typeRE.FindAllStringSubmatch(types, -1) {
		t := Type{Mods: map[string]bool{}, Levels: map[string]int{}}
		if mm := modsRE.FindStringSubmatch(m[2]); mm != nil {
			for _, mod := range strings.Split(mm[1], "+") {
				if mod = strings.TrimSpace(mod); mod != "none" {
					t.Mods[mod] = true
				}
			}
		}
		for _, mm := range mapRE.FindAllStringSubmatch(m[2], -1) {
			level, err := strconv.Atoi(mm[2])
			if err != nil {
				return nil, fmt.Errorf("xkb: type %s: level %q: %w", m[1], mm[2], err)
			}
			t.Levels[canonical(strings.Split(mm[1], "+"))] = level
		}
		km.Types[m[1]] = t
	}
	for _, m := range keyRE.FindAllStringSubmatch(symbols, -1) {
		body := m[2]
		var k Key
		if t := keyTypRE.FindStringSubmatch(body); t != nil {
			k.Type = t[1]
		}
		if i := strings.Index(body, "symbols[Group1]"); i >= 0 {
			body = body[i+len("symbols[Group1]"):]
		}
		for _, l := range listRE.FindAllStringSubmatch(body, -1) {
			if strings.HasPrefix(l[1], "Group") {
				continue
			}
			for _, s := range strings.Split(l[1], ",") {
				k.Symbols = append(k.Symbols, strings.TrimSpace(s))
			}
			break
		}
		if len(k.Symbols) > 0 {
			km.Keys[m[1]] = k
		}
	}
	return km, nil
}

// section returns the body of the named top-level section.
func section(text, name string) (string, bool) {
	i := strings.Index(text, name+" ")
	if i < 0 {
		return "", false
	}
	rest := text[i:]
	j := strings.Index(rest, "\n};")
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

func canonical(mods []string) string {
	var out []string
	for _, m := range mods {
		if m = strings.TrimSpace(m); m != "" && m != "none" {
			out = append(out, m)
		}
	}
	// A set: order does not matter.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return strings.Join(out, "+")
}

// Symbol returns the keysym name key produces with Shift and the third-level chooser (AltGr)
// held, or "" when the key is not in the keymap or has no symbol there. Caps Lock and Num Lock
// are taken as off.
func (km *Keymap) Symbol(key string, shift, level3 bool) string {
	k, ok := km.Keys[key]
	if !ok {
		return ""
	}
	var held []string
	if shift {
		held = append(held, "Shift")
	}
	if level3 {
		held = append(held, "LevelThree")
	}
	level := 1
	if t, ok := km.Types[k.Type]; k.Type != "" && ok {
		var active []string
		for _, m := range held {
			if t.Mods[m] {
				active = append(active, m)
			}
		}
		if l, ok := t.Levels[canonical(active)]; ok {
			level = l
		}
	} else {
		// xkb's automatic types: one level, two (Shift), or four (Shift, LevelThree).
		switch {
		case len(k.Symbols) == 1:
		case len(k.Symbols) == 2:
			if shift {
				level = 2
			}
		default:
			if shift {
				level++
			}
			if level3 {
				level += 2
			}
		}
	}
	if level > len(k.Symbols) || k.Symbols[level-1] == "NoSymbol" {
		return ""
	}
	return k.Symbols[level-1]
}
