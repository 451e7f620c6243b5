package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func TestConsoleShare(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "console", "share", "s2")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "https://relay.test/console/#share=kvms_tok\n", r.stdout, "the link alone on stdout, for scripts")
	assert.Contains(t, r.stderr, "members of the organization sign in, then watch (never control)")
	assert.Contains(t, r.stderr, "kvmctl console unshare s2 sh1")

	r = withKey(t, f, "console", "share", "s2", "--guest", "--ttl", "30m")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "https://relay.test/console/#guest=kvms_gtok\n", r.stdout)
	assert.Contains(t, r.stderr, "Guest link sh1 to watch web1 (view only, no account); it expires 2030-01-02T03:04:05Z")

	r = withKey(t, f, "console", "share", "s2", "--guest", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var sh client.Share
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sh))
	assert.Equal(t, "guest", sh.Kind)
	require.NotNil(t, sh.ExpiresAt)

	f.mu.Lock()
	var sent []string
	for _, req := range f.requests {
		if strings.HasPrefix(req, "POST /api/v1/sessions/s2/shares ") {
			sent = append(sent, strings.TrimPrefix(req, "POST /api/v1/sessions/s2/shares "))
		}
	}
	f.mu.Unlock()
	assert.Equal(t, []string{`{"kind":"member"}`, `{"kind":"guest","ttl_seconds":1800}`, `{"kind":"guest"}`}, sent)

	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"ttl without --guest", []string{"console", "share", "s2", "--ttl", "1h"}, client.ExitUsage, "--ttl is for guest links"},
		{"no session", []string{"console", "share"}, client.ExitUsage, "wants SESSION"},
		{"a ttl out of bounds", []string{"console", "share", "s2", "--guest", "--ttl", "48h"}, client.ExitError, "A guest link lasts from 300 seconds"},
		{"not the caller's console", []string{"console", "share", "s9"}, client.ExitUnauthorized, "Only the console's own person"},
		{"unshare an unknown share", []string{"console", "unshare", "s2", "sh7"}, client.ExitNotFound, "no such share link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := withKey(t, f, tc.args...)
			assert.Equal(t, tc.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.wantErr)
		})
	}

	r = withKey(t, f, "console", "shares", "s2")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^SHARE\s+KIND\s+STATE\s+JOINED\s+EXPIRES\s+CREATED BY\s+CREATED$`, lines[0])
	assert.Regexp(t, `^sh2\s+guest\s+revoked 2026-04-30T08:00:00Z\s+0\s+2030-01-02T03:04:05Z\s+ops@acme\.test\s+`, lines[1])
	assert.Regexp(t, `^sh1\s+member\s+live\s+2\s+-\s+ops@acme\.test\s+`, lines[2])

	r = withKey(t, f, "console", "unshare", "s2", "sh1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Share link sh1 revoked")
}
