// Command bundle writes the pages' bundles under web/static/app; run through `go generate ./web`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kvmrelay/kvmrelay/web/internal/bundle"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	for _, e := range bundle.Entries() {
		out, err := bundle.Build("static", e)
		if err != nil {
			return err
		}
		path := filepath.Join("static", e.Output)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return err
		}
		fmt.Printf("wrote %s (%d bytes)\n", path, len(out))
	}
	return nil
}
