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
	table := func(l Layout, variant string) (Table, error) {
		args := []string{"compile-keymap", "--model", "pc105", "--layout", l.XKB}
		if variant != "" {
			args = append(args, "--variant", variant)
		}
		out, err := exec.Command(p.Xkbcli, args...).Output()
		if err != nil {
			return Table{}, fmt.Errorf("xkb: xkbcli %s: %w", strings.Join(args, " "), err)
		}
		km, err := ParseKeymap(string(out))
		if err != nil {
			return Table{}, fmt.Errorf("xkb: layout %s: %w", l.XKB, err)
		}
		return Resolve(l, km, defs)
	}
	// The generic latin layout (not its typeN variants, which hold national conventions).
	latin, err := table(Layout{Name: "latin", XKB: "latin", Level3: true}, "")
	if err != nil {
		return nil, nil, nil, "", err
	}
	us, err := table(Layout{Name: "en-US", XKB: "us"}, "")
	if err != nil {
		return nil, nil, nil, "", err
	}
	var tables []Table
	for _, l := range Layouts() {
		t, err := table(l, "")
		if err != nil {
			return nil, nil, nil, "", err
		}
		MarkGeneric(&t, latin, us)
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
