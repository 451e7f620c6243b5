package xkb

import (
	"bufio"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Composition is one two-key dead-key sequence of the Compose file: Dead then Base types Rune.
type Composition struct {
	Dead, Base string // keysym names
	Rune       rune
}

var composeRE = regexp.MustCompile(`^<(dead_[a-z_]+)>\s*<([A-Za-z0-9_]+)>\s*:\s*"((?:[^"\\]|\\.)+)"`)

// ParseCompose returns the sequences of a dead key and one more key that type a single
// character, in file order.
func ParseCompose(text string) ([]Composition, error) {
	var out []Composition
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		m := composeRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := m[3]
		if strings.HasPrefix(s, `\`) {
			s = s[1:] // \" and \\
		}
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError || n != len(s) {
			continue
		}
		out = append(out, Composition{Dead: m[1], Base: m[2], Rune: r})
	}
	return out, sc.Err()
}
