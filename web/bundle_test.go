package web

import (
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/web/internal/bundle"
)

// TestBundleUpToDate: the committed bundle is exactly what the modules build to, so nobody
// ships a console that differs from its source. Fix with `go generate ./web`.
func TestBundleUpToDate(t *testing.T) {
	want, err := bundle.Build("static")
	require.NoError(t, err)
	got, err := os.ReadFile("static/" + bundle.Output)
	require.NoError(t, err)
	require.True(t, string(want) == string(got), "web/static/%s is stale: run go generate ./web", bundle.Output)
}

// TestPageLoadsTheBundle: index.html loads the bundle and nothing else as a script.
func TestPageLoadsTheBundle(t *testing.T) {
	page, err := fs.ReadFile(Assets(), "index.html")
	require.NoError(t, err)
	assert.Contains(t, string(page), `<script type="module" src="`+bundle.Output+`"></script>`)
	assert.Equal(t, 1, strings.Count(string(page), "<script"), "one script: the bundle")
	assert.NotContains(t, string(page), "modulepreload")
}
