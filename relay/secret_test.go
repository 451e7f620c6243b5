package relay

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadSecretKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a, err := LoadSecretKey(dir, "")
	require.NoError(t, err)
	require.Len(t, a, 32)
	st, err := os.Stat(filepath.Join(dir, SecretKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := LoadSecretKey(dir, "")
	require.NoError(t, err)
	assert.Equal(t, a, b, "generated once, then loaded")

	shared := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(shared, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600))
	c, err := LoadSecretKey(dir, shared)
	require.NoError(t, err)
	assert.Equal(t, byte(0x11), c[1], "an explicit file wins over the data directory's")

	for _, bad := range []string{"", "xyz", "0011"} {
		require.NoError(t, os.WriteFile(shared, []byte(bad), 0o600))
		_, err := LoadSecretKey(dir, shared)
		assert.ErrorContains(t, err, "64 hex digits", "%q", bad)
	}
	_, err = LoadSecretKey(dir, filepath.Join(t.TempDir(), "missing"))
	assert.Error(t, err, "a named file must exist: nodes must not each invent a key")
}
