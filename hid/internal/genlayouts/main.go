// Command genlayouts writes package hid's keyboard layout tables from the installed X keyboard
// configuration. Run it through go generate in hid/ on a machine with libxkbcommon-tools,
// xkb-data, x11proto-dev and libx11-data.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kvmrelay/kvmrelay/hid/internal/xkb"
)

func main() {
	out := flag.String("o", "layout_tables.go", "file to write")
	flag.Parse()
	src, err := xkb.GenerateInstalled(xkb.DefaultPaths())
	if err == nil {
		err = os.WriteFile(*out, src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genlayouts:", err)
		os.Exit(1)
	}
}
