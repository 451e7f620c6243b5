package enroll

import (
	"context"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnrollWritesPrivateState(t *testing.T) {
	r, id, dir := enrolled(t, "dev-1")
	assert.Equal(t, "dev-1", id.DeviceID())

	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	for _, name := range []string{KeyFile, CertFile, CAFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
	}
	assertNoTempFiles(t, dir)

	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	require.NoError(t, err)
	assert.Equal(t, r.ca.RootPEM(), caPEM)

	loaded, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, id.Certificate().Raw, loaded.Certificate().Raw)
	assert.True(t, id.Key().Equal(loaded.Key()))
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestLoadNotEnrolled(t *testing.T) {
	_, err := Load(t.TempDir())
	require.ErrorIs(t, err, ErrNotEnrolled)
}

func TestLoadRejectsMismatchedState(t *testing.T) {
	_, _, dir := enrolled(t, "dev-1")
	_, _, other := enrolled(t, "dev-2")
	// Another agent's certificate next to our key must not load.
	b, err := os.ReadFile(filepath.Join(other, CertFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), b, 0o600))
	_, err = Load(dir)
	require.ErrorIs(t, err, ErrBadState)
}

func TestEnrollRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("already enrolled", func(t *testing.T) {
		r, _, dir := enrolled(t, "dev-1")
		_, err := Enroll(ctx, dir, r.token("dev-1"), r)
		require.ErrorIs(t, err, ErrAlreadyEnrolled)
	})
	t.Run("empty token", func(t *testing.T) {
		r := newRelay(t)
		_, err := Enroll(ctx, t.TempDir(), "", r)
		require.Error(t, err)
	})
	t.Run("token replayed", func(t *testing.T) {
		r := newRelay(t)
		tok := r.token("dev-1")
		_, err := Enroll(ctx, t.TempDir(), tok, r)
		require.NoError(t, err)
		dir := t.TempDir()
		_, err = Enroll(ctx, dir, tok, r)
		require.ErrorIs(t, err, ca.ErrTokenUsed)
		_, err = Load(dir)
		require.ErrorIs(t, err, ErrNotEnrolled, "nothing usable written")
	})
	t.Run("relay answers with a certificate for another key", func(t *testing.T) {
		r := newRelay(t)
		dir := t.TempDir()
		_, err := Enroll(ctx, dir, r.token("dev-1"), swappingRelay{r})
		require.ErrorIs(t, err, ErrBadCertificate)
		_, err = os.Stat(filepath.Join(dir, CertFile))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

// swappingRelay answers an enrollment with a certificate for a key the agent does not hold.
type swappingRelay struct{ *relay }

func (s swappingRelay) Enroll(ctx context.Context, token string, _ []byte) ([]byte, []byte, error) {
	k, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	csr, err := NewCSR(k)
	if err != nil {
		return nil, nil, err
	}
	return s.relay.Enroll(ctx, token, csr)
}

func TestReplaceIsAtomicAndChecked(t *testing.T) {
	r, id, dir := enrolled(t, "dev-1")
	path := filepath.Join(dir, CertFile)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	old, err := os.Open(path) // a reader holding the old file keeps seeing it whole
	require.NoError(t, err)
	defer old.Close()

	r.clock.Add(time.Hour)
	csr, err := NewCSR(id.Key())
	require.NoError(t, err)
	newPEM, err := r.ca.Issue(context.Background(), csr, "dev-1", 0)
	require.NoError(t, err)
	require.NoError(t, id.Replace(newPEM))

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, newPEM, after)
	stale, err := io.ReadAll(old)
	require.NoError(t, err)
	assert.Equal(t, before, stale)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assertNoTempFiles(t, dir)
	blk, _ := pem.Decode(newPEM)
	assert.Equal(t, blk.Bytes, id.Certificate().Raw)

	// Refused replacements leave both disk and memory alone.
	foreignKey, err := NewKey()
	require.NoError(t, err)
	foreignCSR, err := NewCSR(foreignKey)
	require.NoError(t, err)
	r.clock.Add(time.Hour)
	foreign, err := r.ca.Issue(context.Background(), foreignCSR, "dev-1", 0)
	require.NoError(t, err)
	require.ErrorIs(t, id.Replace(foreign), ErrBadCertificate)
	require.ErrorIs(t, id.Replace(before), ErrBadCertificate, "older certificate")
	require.ErrorIs(t, id.Replace([]byte("junk")), ErrBadCertificate)
	now, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, newPEM, now)
	assert.Equal(t, blk.Bytes, id.Certificate().Raw)
}
