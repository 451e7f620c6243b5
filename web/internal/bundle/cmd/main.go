// Command bundle writes web/static/app/console.js; run through `go generate ./web`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kvmrelay/kvmrelay/web/internal/bundle"
)

func main() {
	out, err := bundle.Build("static")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	path := filepath.Join("static", bundle.Output)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%d bytes)\n", path, len(out))
}
