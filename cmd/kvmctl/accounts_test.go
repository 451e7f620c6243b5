package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func TestUserAdminCommands(t *testing.T) {
	f := newFakeRelay(t)
	tests := []struct {
		args    []string
		request string
		stdout  string
	}{
		{[]string{"users", "reset-password", "ops@acme.test"}, "POST /api/v1/users/u1/password-reset", "https://relay.test/console/#reset=kvmp_tok\n"},
		{[]string{"users", "disable", "OPS@acme.test"}, "POST /api/v1/users/u1/disable", "Disabled ops@acme.test: their sessions ended and 2 console(s) were stopped."},
		{[]string{"users", "enable", "u1"}, "POST /api/v1/users/u1/enable", "Enabled ops@acme.test"},
		{[]string{"users", "reset-mfa", "u1"}, "DELETE /api/v1/users/u1/mfa", "The second factor of ops@acme.test is off"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := withKey(t, f, tt.args...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, tt.stdout)
			found := false
			for _, req := range f.seen() {
				found = found || strings.HasPrefix(req, tt.request+" ")
			}
			assert.True(t, found, "%s was sent", tt.request)
		})
	}
	r := withKey(t, f, "users", "disable", "nobody@acme.test")
	assert.Equal(t, client.ExitNotFound, r.code)
	assert.Contains(t, r.stderr, `no user has the id or email "nobody@acme.test"`)
	r = withKey(t, f, "users", "disable")
	assert.Equal(t, client.ExitUsage, r.code)
}

func TestPasswordCommands(t *testing.T) {
	f := newFakeRelay(t)
	dir := filepath.Join(t.TempDir(), "cfg")
	r := kvmctl(t, f, dir, " hunter2 \n", "login", "--org", "acme", "--email", "ops@acme.test")
	require.Equal(t, 0, r.code, r.stderr)

	r = kvmctl(t, f, dir, "wrong\nnew password here\n", "password", "change", "--password-stdin")
	assert.Equal(t, client.ExitUnauthorized, r.code)
	assert.Contains(t, r.stderr, "The current password is wrong")

	r = kvmctl(t, f, dir, " hunter2 \nnew password here\n", "password", "change", "--password-stdin")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Password changed.")
	assert.NotContains(t, r.stdout+r.stderr, "new password here")
	b, err := os.ReadFile(filepath.Join(dir, client.CredentialsFile))
	require.NoError(t, err)
	assert.Contains(t, string(b), "refresh-2", "the new pair is stored")

	r = kvmctl(t, f, t.TempDir(), "new password here\n", "password", "reset", "--token", "https://relay.test/console/#reset=kvmp_tok", "--password-stdin")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Password set for ops@acme.test in organization acme")
	assert.Contains(t, r.stdout, "login --org acme --email ops@acme.test")

	r = kvmctl(t, f, t.TempDir(), "new password here\n", "password", "reset", "--token", "kvmp_other")
	assert.Equal(t, client.ExitUnauthorized, r.code)
	r = kvmctl(t, f, t.TempDir(), "", "password", "reset")
	assert.Equal(t, client.ExitUsage, r.code)
	assert.Contains(t, r.stderr, "--token is required")
}

func TestAuditVerifyWitness(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	verify := func(args ...string) result {
		return kvmctl(t, f, dir, "", append([]string{"audit", "verify", "--api-key", fakeKey}, args...)...)
	}
	r := verify()
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "First verification from here: head seq 5 recorded")
	b, err := os.ReadFile(filepath.Join(dir, client.WitnessFile))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"hash": "h5"`)

	r = verify()
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "It still holds seq 5 as this kvmctl verified it last time.")
	var sawWitness bool
	for _, req := range f.seen() {
		sawWitness = sawWitness || strings.HasPrefix(req, "GET /api/v1/audit/verify")
	}
	assert.True(t, sawWitness)

	// The newest entries disappear (and the server's own anchor was rewritten with them): only
	// the witness notices.
	f.mu.Lock()
	f.audit = f.audit[:3]
	f.mu.Unlock()
	r = verify()
	assert.Equal(t, client.ExitChainBroken, r.code)
	assert.Contains(t, r.stderr, "the chain no longer contains the entry this kvmctl verified last time (seq 5, hash h5)")

	r = verify("--no-witness")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Audit chain intact: 3 entries.\n", r.stdout)
	b, err = os.ReadFile(filepath.Join(dir, client.WitnessFile))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"hash": "h5"`, "--no-witness leaves the recorded witness alone")
}
