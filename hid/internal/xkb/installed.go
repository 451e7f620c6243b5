package xkb

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Paths are where the installed X keyboard configuration is.
type Paths struct {
	Xkbcli, Keysymdef, Compose string
}

// DefaultPaths are Debian's.
func DefaultPaths() Paths {
	return Paths{
		Xkbcli:    "xkbcli",
		Keysymdef: "/usr/include/X11/keysymdef.h",
		Compose:   "/usr/share/X11/locale/en_US.UTF-8/Compose",
	}
}

// Installed reads the keysyms, the compositions and every layout's table.
func Installed(p Paths) ([]Table, []Composition, map[string]Keysym, string, error) {
	def, err := os.ReadFile(p.Keysymdef)
	if err != nil {
		return nil, nil, nil, "", err
	}
	defs, err := ParseKeysymdef(string(def))
	if err != nil {
		return nil, nil, nil, "", err
	}
	comp, err := os.ReadFile(p.Compose)
	if err != nil {
		return nil, nil, nil, "", err
	}
	compose, err := ParseCompose(string(comp))
	if err != nil {
		return nil, nil, nil, "", err
	}
	var tables []Table
	for _, l := range Layouts() {
		out, err := exec.Command(p.Xkbcli, "compile-keymap", "--model", "pc105", "--layout", l.XKB).Output()
		if err != nil {
			return nil, nil, nil, "", fmt.Errorf("xkb: xkbcli compile-keymap --layout %s: %w", l.XKB, err)
		}
		km, err := ParseKeymap(string(out))
		if err != nil {
			return nil, nil, nil, "", fmt.Errorf("xkb: layout %s: %w", l.XKB, err)
		}
		t, err := Resolve(l, km, defs)
		if err != nil {
			return nil, nil, nil, "", err
		}
		tables = append(tables, t)
	}
	// The Debian package's version names the xkeyboard-config release.
	version := "(unknown version)"
	if v, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "xkb-data").Output(); err == nil {
		version = strings.TrimSpace(string(v))
	}
	return tables, compose, defs, version, nil
}

// GenerateInstalled generates the tables from the installed configuration.
func GenerateInstalled(p Paths) ([]byte, error) {
	tables, compose, defs, version, err := Installed(p)
	if err != nil {
		return nil, err
	}
	return Generate(tables, compose, defs, version)
}
