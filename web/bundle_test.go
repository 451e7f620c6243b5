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

// TestBundleUpToDate: every committed bundle is exactly what its modules build to, so nobody
// ships a page that differs from its source. Fix with `go generate ./web`.
func TestBundleUpToDate(t *testing.T) {
	entries := bundle.Entries()
	require.Len(t, entries, 2, "the console and the dashboard")
	for _, e := range entries {
		t.Run(e.Output, func(t *testing.T) {
			want, err := bundle.Build("static", e)
			require.NoError(t, err)
			got, err := os.ReadFile("static/" + e.Output)
			require.NoError(t, err)
			require.True(t, string(want) == string(got), "web/static/%s is stale: run go generate ./web", e.Output)
		})
	}
}

// TestPageLoadsTheBundle: each page loads its own bundle and nothing else as a script.
func TestPageLoadsTheBundle(t *testing.T) {
	for _, tc := range []struct{ page, script string }{
		{"index.html", bundle.ConsoleOutput},
		{"dashboard.html", "/console/" + bundle.DashboardOutput},
	} {
		t.Run(tc.page, func(t *testing.T) {
			page, err := fs.ReadFile(Assets(), tc.page)
			require.NoError(t, err)
			assert.Contains(t, string(page), `<script type="module" src="`+tc.script+`"></script>`)
			assert.Equal(t, 1, strings.Count(string(page), "<script"), "one script: the bundle")
			assert.NotContains(t, string(page), "modulepreload")
		})
	}
}
