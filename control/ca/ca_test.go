package ca

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRootCreatedOnceAndReloaded(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := Open(ctx, Config{Store: FileKeyStore{Dir: dir}})
	require.NoError(t, err)
	root := first.Root()
	assert.True(t, root.IsCA)
	assert.True(t, root.MaxPathLenZero)
	assert.Equal(t, 0, root.MaxPathLen)
	assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, root.KeyUsage)
	assert.Equal(t, x509.ECDSAWithSHA384, root.SignatureAlgorithm)

	st, err := os.Stat(filepath.Join(dir, bundleName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	again, err := Open(ctx, Config{Store: FileKeyStore{Dir: dir}})
	require.NoError(t, err)
	assert.Equal(t, root.Raw, again.Root().Raw)
}

// Two relay processes starting at once must end up with one root.
func TestRootConcurrentOpenAgrees(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	roots := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := Open(context.Background(), Config{Store: FileKeyStore{Dir: dir}})
			if assert.NoError(t, err) {
				roots[i] = c.Root().Raw
			}
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		assert.Equal(t, roots[0], roots[i])
	}
	left, err := filepath.Glob(filepath.Join(dir, ".ca-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "temporary files left behind")
}

func TestFileKeyStoreSaveIsExclusive(t *testing.T) {
	s := FileKeyStore{Dir: t.TempDir()}
	ctx := context.Background()
	_, err := s.Load(ctx)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.Save(ctx, []byte("one")))
	require.ErrorIs(t, s.Save(ctx, []byte("two")), ErrExists)
	got, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("one"), got)
}

func TestOpenRejectsCorruptBundle(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, bundleName), []byte("garbage"), 0o600))
	_, err := Open(context.Background(), Config{Store: FileKeyStore{Dir: dir}})
	require.Error(t, err)
}
