package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/relay"
)

// TestDemoOwnerOnce: the demo's first run makes the organization and its owner with a generated
// password kept 0600 in the data directory; a second run reuses them; a damaged file is an error
// that says what to do.
func TestDemoOwnerOnce(t *testing.T) {
	ctx := context.Background()
	cfg := relay.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()}
	first, created, err := demoOwner(ctx, cfg)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, demoOrgSlug, first.Org)
	assert.Len(t, first.Password, 23, "20 random characters in four groups")

	info, err := os.Stat(filepath.Join(cfg.DataDir, demoLogin))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "only its owner reads the password")

	again, created, err := demoOwner(ctx, cfg)
	require.NoError(t, err)
	assert.False(t, created, "the second run reuses the organization")
	assert.Equal(t, first, again)

	require.NoError(t, os.WriteFile(filepath.Join(cfg.DataDir, demoLogin), []byte("{"), 0o600))
	_, _, err = demoOwner(ctx, cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delete it")
}
