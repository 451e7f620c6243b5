package web

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryModulePreloaded: index.html preloads every script module, so the browser fetches
// the whole module graph in parallel instead of discovering it import by import.
func TestEveryModulePreloaded(t *testing.T) {
	page, err := fs.ReadFile(Assets(), "index.html")
	require.NoError(t, err)
	mods, err := fs.Glob(Assets(), "js/*.js")
	require.NoError(t, err)
	require.NotEmpty(t, mods)
	for _, m := range mods {
		if m == "js/main.js" {
			assert.Contains(t, string(page), `<script type="module" src="js/main.js">`)
			continue
		}
		assert.True(t, strings.Contains(string(page), `<link rel="modulepreload" href="`+m+`">`), "%s is not preloaded in index.html", m)
	}
}
