package client

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChangePasswordKeepsTheLogin: the server ends every session, this one's included, and
// answers with a new pair; the client stores it, so the next command still works.
func TestChangePasswordKeepsTheLogin(t *testing.T) {
	f := newFakeRelay(t)
	dir := filepath.Join(t.TempDir(), "kvmctl")
	c := newTestClient(t, f, dir)
	ctx := context.Background()
	_, err := c.Login(ctx, LoginRequest{Org: "acme", Email: "ops@acme.test", Password: "hunter2"})
	require.NoError(t, err)

	err = c.ChangePassword(ctx, "wrong", "new password here")
	require.Error(t, err)
	assert.Equal(t, ExitUnauthorized, ExitCode(err))

	before := readCredentials(t, dir)
	require.NoError(t, c.ChangePassword(ctx, "hunter2", "new password here"))
	after := readCredentials(t, dir)
	assert.NotEqual(t, before.AccessToken, after.AccessToken)
	assert.NotEqual(t, before.RefreshToken, after.RefreshToken)
	_, err = c.Me(ctx)
	require.NoError(t, err, "the new tokens are in use")
	_, _, unauth := f.stats()
	assert.Zero(t, unauth, "no request went out with the dead token")
}

func TestResetPasswordToken(t *testing.T) {
	for in, want := range map[string]string{
		"kvmp_abc": "kvmp_abc",
		" https://relay.example/console/#reset=kvmp_abc ": "kvmp_abc",
	} {
		assert.Equal(t, want, ResetPasswordToken(in))
	}
}

func TestWitnessStore(t *testing.T) {
	f := newFakeRelay(t)
	c := newTestClient(t, f, t.TempDir())
	ctx := context.Background()
	_, ok, err := c.Witness("org-1")
	require.NoError(t, err)
	assert.False(t, ok, "none before the first verification")

	require.NoError(t, c.SaveWitness(ctx, "org-1", AuditHead{Seq: 5, Hash: "h5"}))
	require.NoError(t, c.SaveWitness(ctx, "org-2", AuditHead{Seq: 9, Hash: "h9"}))
	require.NoError(t, c.SaveWitness(ctx, "org-1", AuditHead{Seq: 3, Hash: "h3"}), "an older head does not move it back")
	h, ok, err := c.Witness("org-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, AuditHead{Seq: 5, Hash: "h5"}, h)

	other, err := New(Config{Server: "https://other.example", ConfigDir: c.Dir()})
	require.NoError(t, err)
	_, ok, err = other.Witness("org-1")
	require.NoError(t, err)
	assert.False(t, ok, "witnesses are per server")
}
