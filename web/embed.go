// Package web holds the browser console: plain HTML, CSS and ES modules with no build step,
// embedded into the relay binary. The relay serves Assets under /console/ with a strict
// Content-Security-Policy (no inline script or style), so every script and style lives in its
// own file here.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Assets returns the console's files, rooted so that "index.html" is the page the relay serves
// at /console/.
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub only fails on an invalid path, and "static" is a constant that go:embed checked.
		panic(err)
	}
	return sub
}
