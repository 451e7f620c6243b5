package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
)

type result struct {
	code           int
	stdout, stderr string
}

// kvmctl runs the command in-process against the fake with its own config directory.
func kvmctl(t *testing.T, f *fakeRelay, dir, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"--config-dir", dir, "--server", f.srv.URL}, args...)
	code := run(context.Background(), full, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// withKey runs kvmctl authenticated by the fake's API key.
func withKey(t *testing.T, f *fakeRelay, args ...string) result {
	t.Helper()
	return kvmctl(t, f, t.TempDir(), "", append(args, "--api-key", fakeKey)...)
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		assert.Equal(t, 0, code, "%v", args)
		for _, want := range []string{"Exit codes:", "0  ok", "1  error", "2  usage", "3  unauthorized or forbidden",
			"4  not found", "5  conflict", "6  server unreachable", "7  audit chain broken", "8  rate limited",
			"devices enroll-token DEVICE", "audit verify", "KVMCTL_API_KEY", "XDG_CONFIG_HOME"} {
			assert.Contains(t, out.String(), want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	f := newFakeRelay(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "a command is required"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"group without verb", []string{"devices"}, "Usage: kvmctl devices create|delete|enroll-token|list|relabel|rename|retag|revoke"},
		{"unknown verb", []string{"devices", "explode"}, `unknown command "devices explode"`},
		{"missing argument", []string{"console", "start"}, "console start wants DEVICE, got 0 arguments"},
		{"extra argument", []string{"devices", "list", "x"}, `devices list takes no arguments (got ["x"])`},
		{"bad output format", []string{"devices", "list", "-o", "yaml"}, `"yaml" is not one of table, json`},
		{"bad label", []string{"devices", "create", "web2", "--label", "rack"}, `"rack": want KEY=VALUE`},
		{"duplicate label", []string{"devices", "create", "web2", "--label", "a=1", "--label", "a=2"}, `key "a" given twice`},
		{"invite without role", []string{"users", "invite", "x@acme.test"}, "--role is required"},
		{"unknown flag", []string{"audit", "list", "--colour"}, "flag provided but not defined: -colour"},
		{"plain http off loopback", []string{"devices", "list", "--server", "http://relay.example.com"}, "plain http off loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r result
			if tt.args == nil {
				var out, errOut bytes.Buffer
				r.code = run(context.Background(), nil, strings.NewReader(""), &out, &errOut)
				r.stderr = errOut.String()
			} else {
				r = withKey(t, f, tt.args...)
			}
			assert.Equal(t, client.ExitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.wantErr)
		})
	}
	for _, req := range f.seen() {
		assert.NotContains(t, req, "POST", "no usage error reached the server")
	}
}

func TestNoServer(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--config-dir", t.TempDir(), "devices", "list"}, strings.NewReader(""), &out, &errOut)
	assert.Equal(t, client.ExitUsage, code)
	assert.Contains(t, errOut.String(), "no server: pass --server URL")
}

func TestLoginWithTOTP(t *testing.T) {
	f := newFakeRelay(t)
	f.totp = "123456"
	dir := filepath.Join(t.TempDir(), "cfg")

	// Not logged in yet.
	r := kvmctl(t, f, dir, "", "devices", "list")
	assert.Equal(t, client.ExitUnauthorized, r.code)
	assert.Contains(t, r.stderr, "not logged in to "+f.srv.URL+": run kvmctl --server "+f.srv.URL+" login")

	// Password (spaces kept), then the code the server asked for.
	r = kvmctl(t, f, dir, " hunter2 \n123 456\n", "login", "--org", "acme", "--email", "ops@acme.test")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Password for ops@acme.test at acme: ")
	assert.Contains(t, r.stderr, "Code from your authenticator app (or a recovery code): ")
	assert.Contains(t, r.stdout, "Logged in to "+f.srv.URL+" as ops@acme.test (organization acme, role admin)")
	assert.NotContains(t, r.stdout+r.stderr, "hunter2")
	st, err := os.Stat(filepath.Join(dir, client.CredentialsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The next command needs neither --server nor a key: both are remembered.
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--config-dir", dir, "whoami"}, strings.NewReader(""), &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "ops@acme.test")

	// A later login remembers org and email and takes a recovery code.
	r = kvmctl(t, f, dir, " hunter2 \nrec-overy\n", "login")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, f.seen()[len(f.seen())-2], `"recovery_code":"rec-overy"`)

	// Logout revokes and forgets.
	r = kvmctl(t, f, dir, "", "logout")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Logged out of "+f.srv.URL)
	assert.NoFileExists(t, filepath.Join(dir, client.CredentialsFile))
	assert.Contains(t, strings.Join(f.seen(), "\n"), `POST /api/v1/auth/logout {"refresh_token":"refresh-1"}`)
}

// TestLoginWhileTheAccountIsSlowed: a flood from elsewhere slows the account; kvmctl says so
// and takes the authenticator code, which gets its user in at once; no code, no login.
func TestLoginWhileTheAccountIsSlowed(t *testing.T) {
	f := newFakeRelay(t)
	f.totp, f.slowed = "123456", true
	dir := filepath.Join(t.TempDir(), "cfg")
	r := kvmctl(t, f, dir, " hunter2 \n\n", "login", "--org", "acme", "--email", "ops@acme.test")
	assert.Equal(t, client.ExitRateLimited, r.code, r.stderr)
	assert.Contains(t, r.stderr, "slowed down")

	r = kvmctl(t, f, dir, " hunter2 \n123 456\n", "login", "--org", "acme", "--email", "ops@acme.test")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Code from your authenticator app (empty to give up and wait): ")
	assert.Contains(t, r.stdout, "Logged in to "+f.srv.URL)
	assert.Contains(t, f.seen()[len(f.seen())-2], `"totp":"123456"`)
}

func TestLoginFailures(t *testing.T) {
	f := newFakeRelay(t)
	f.totp = "123456"
	tests := []struct {
		name     string
		stdin    string
		wantCode int
		wantErr  string
	}{
		{"wrong password", "nope\n", client.ExitUnauthorized, "wrong organization, email or password"},
		{"wrong code", " hunter2 \n000000\n", client.ExitUnauthorized, "enter the code from your authenticator app"},
		{"no code on stdin", " hunter2 \n", client.ExitUsage, "no answer to"},
		{"no password on stdin", "", client.ExitUsage, "no answer to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := kvmctl(t, f, dir, tt.stdin, "login", "--org", "acme", "--email", "ops@acme.test")
			assert.Equal(t, tt.wantCode, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.wantErr)
			assert.NoFileExists(t, filepath.Join(dir, client.CredentialsFile))
		})
	}
}

func TestLoginWithAPIKey(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	t.Setenv("KVMCTL_API_KEY", fakeKey)
	r := kvmctl(t, f, dir, "", "login")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "with API key u1 (organization acme, role admin)")
	assert.NotContains(t, r.stdout, fakeKey)

	t.Setenv("KVMCTL_API_KEY", "")
	r = kvmctl(t, f, dir, "", "devices", "list")
	require.Equal(t, 0, r.code, r.stderr)

	r = kvmctl(t, f, t.TempDir(), "", "login", "--api-key", "kvm_ak_wrong")
	assert.Equal(t, client.ExitUnauthorized, r.code)
	assert.Contains(t, r.stderr, "invalid credentials: log in again")
}

func TestDevicesList(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "devices", "list")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^ID\s+NAME\s+KIND\s+STATUS\s+LAST SEEN\s+AGENT\s+LABELS\s+AMT TAGS$`, lines[0])
	assert.Regexp(t, `^d0000000-0000-4000-8000-000000000001\s+web1\s+agent\s+online\s+2026-04-30T08:00:00Z\s+1\.2\.3\s+env=prod,rack=a\s+-$`, lines[1])
	assert.Contains(t, lines[2], `never seen`)
	assert.Contains(t, lines[2], `\x1b[31mevil\x1b[0m`, "agent text is escaped")
	assert.NotContains(t, r.stdout, "\x1b")

	r = withKey(t, f, "devices", "list", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var devices []client.Device
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &devices))
	require.Len(t, devices, 3)
	assert.Equal(t, "web1", devices[0].Name)
	assert.Equal(t, `{"codecs":["h264"]}`, devices[0].Capabilities.String())
}

func TestDevicesCreateRevokeEnroll(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "devices", "create", "web2", "--label", "rack=c", "--label", "env=lab")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Created device web2 (d0000000-0000-4000-8000-000000000009)")
	assert.Contains(t, r.stdout, "kvmctl devices enroll-token d0000000-0000-4000-8000-000000000009")
	assert.Contains(t, strings.Join(f.seen(), "\n"), `POST /api/v1/devices {"labels":{"env":"lab","rack":"c"},"name":"web2"}`)

	r = withKey(t, f, "devices", "enroll-token", "web1", "--state-dir", "/srv/kvm agent")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Enrollment token for device web1 (d0000000-0000-4000-8000-000000000001), single use, expires 2030-01-02T03:04:05Z")
	assert.Contains(t, r.stdout, "\nenr_t0ken's\n")
	assert.Contains(t, r.stdout, "  kvmagent enroll --server "+f.srv.URL+` --token 'enr_t0ken'\''s' --state-dir '/srv/kvm agent'`+"\n")

	r = withKey(t, f, "devices", "enroll-token", "web1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var tok struct {
		Token    string `json:"token"`
		DeviceID string `json:"device_id"`
		Command  string `json:"command"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &tok))
	assert.Equal(t, "d0000000-0000-4000-8000-000000000001", tok.DeviceID)
	assert.Contains(t, tok.Command, "--state-dir /var/lib/kvmagent")

	r = withKey(t, f, "devices", "revoke", "d0000000-0000-4000-8000-000000000002")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Revoked device db (d0000000-0000-4000-8000-000000000002)")
	assert.Contains(t, f.seen(), "DELETE /api/v1/devices/d0000000-0000-4000-8000-000000000002 null")
}

// TestDeviceRenameRelabelDelete: the new device commands, and the server's refusals shown as
// sent with their exit codes (a taken name is a conflict, exit 5).
func TestDeviceRenameRelabelDelete(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "devices", "rename", "web1", "web-1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Renamed device web1 (d0000000-0000-4000-8000-000000000001) to web-1.")
	assert.Contains(t, f.seen(), `PATCH /api/v1/devices/d0000000-0000-4000-8000-000000000001 {"name":"web-1"}`)

	r = withKey(t, f, "devices", "rename", "d0000000-0000-4000-8000-000000000002", "WEB1")
	assert.Equal(t, client.ExitConflict, r.code)
	assert.Equal(t, 5, r.code)
	assert.Contains(t, r.stderr, `kvmctl: update device d0000000-0000-4000-8000-000000000002: A device named "WEB1" already exists in this organization (names are unique ignoring case)`)

	r = withKey(t, f, "devices", "rename", "web1", "we‮b")
	assert.Equal(t, client.ExitError, r.code)
	assert.Contains(t, r.stderr, "name has a right-to-left override (U+202E) at character 3; only printable characters are allowed")

	r = withKey(t, f, "devices", "relabel", "web1", "--label", "site=fra1", "--label", "row=b")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "now has labels: row=b,site=fra1")
	assert.Contains(t, f.seen(), `PATCH /api/v1/devices/d0000000-0000-4000-8000-000000000001 {"labels":{"row":"b","site":"fra1"}}`)
	r = withKey(t, f, "devices", "relabel", "web1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, f.seen(), `PATCH /api/v1/devices/d0000000-0000-4000-8000-000000000001 {"labels":{}}`, "no --label clears them")

	r = withKey(t, f, "devices", "delete", "web1")
	assert.Equal(t, client.ExitConflict, r.code)
	assert.Contains(t, r.stderr, `Device "web1" is not revoked; revoke it first (kvmctl devices revoke), then delete it.`)
	f.devices[2]["revoked_at"] = tCreated
	r = withKey(t, f, "devices", "delete", "d0000000-0000-4000-8000-000000000003")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Deleted device db (d0000000-0000-4000-8000-000000000003); its audit entries stay.")
	assert.Equal(t, []string{"d0000000-0000-4000-8000-000000000003"}, f.purged)
}

func TestDeviceNames(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "console", "start", "db")
	assert.Equal(t, client.ExitError, r.code)
	assert.Contains(t, r.stderr, `kvmctl: "db" names 2 devices; use an id:`)
	assert.Contains(t, r.stderr, "kvmctl:   d0000000-0000-4000-8000-000000000002  db\n")
	assert.Contains(t, r.stderr, "kvmctl:   d0000000-0000-4000-8000-000000000003  db  rack=b\n")

	r = withKey(t, f, "console", "stop", "nosuch")
	assert.Equal(t, client.ExitNotFound, r.code)
	assert.Contains(t, r.stderr, `no device has the id or name "nosuch"`)
	for _, req := range f.seen() {
		assert.NotContains(t, req, "/sessions", "nothing was started or stopped")
	}
}

func TestConsole(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "console", "start", "web1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Console for device web1 (d0000000-0000-4000-8000-000000000001):\nhttps://relay.test/console/s3#k=secret\n")
	assert.Contains(t, r.stdout, "The link expires 2030-01-02T03:04:05Z")
	assert.Contains(t, r.stdout, "Session s3: desired ACTIVE, current REQUESTED.")
	assert.Contains(t, r.stdout, "Grant: view (your role lets this console watch; it cannot type or click).")

	r = withKey(t, f, "console", "start", "web1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var cs client.ConsoleStart
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &cs))
	assert.Equal(t, "https://relay.test/console/s3#k=secret", cs.ConsoleURL)
	assert.Equal(t, "view", cs.Grant)

	r = withKey(t, f, "console", "get", "web1")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, "the newest session only")
	assert.Regexp(t, `^SESSION\s+DESIRED\s+CURRENT\s+REASON\s+PRINCIPAL\s+CREATED\s+EXPIRES\s+LAST ACTIVITY$`, lines[0])
	assert.Regexp(t, `^s2\s+ACTIVE\s+ACTIVE\s+-\s+user:u1\s+2026-04-30T08:00:00Z\s+2030-01-02T03:04:05Z\s+-$`, lines[1])

	r = withKey(t, f, "console", "get", "web1", "--all", "-o", "table")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "agent went away")
	assert.Regexp(t, `(?m)^s1\s+STOPPED\s+ERROR\s+agent went away\s+vera@acme\.example\s`, r.stdout, "the person by name when the relay names them")

	r = withKey(t, f, "console", "get", "web1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var s client.Session
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s))
	assert.Equal(t, "s2", s.ID)
	assert.Equal(t, client.StateActive, s.Current)

	r = withKey(t, f, "console", "get", "web1", "--all", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var all []client.Session
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &all))
	assert.Len(t, all, 2)

	r = withKey(t, f, "console", "get", "d0000000-0000-4000-8000-000000000003")
	assert.Equal(t, client.ExitNotFound, r.code)
	assert.Contains(t, r.stderr, "has no console session: start one with kvmctl console start d0000000-0000-4000-8000-000000000003")

	r = withKey(t, f, "console", "stop", "web1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Stopped 1 console session on device web1 (d0000000-0000-4000-8000-000000000001).\n", r.stdout)
	r = withKey(t, f, "console", "stop", "d0000000-0000-4000-8000-000000000003")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "No live console session")
}

func TestUsersAndAPIKeys(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "users", "list")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `u1\s+ops@acme\.test\s+admin\s+env=prod\s+yes\s+no\s+2026-04-30T08:00:00Z`, r.stdout)

	r = withKey(t, f, "users", "invite", "new@acme.test", "--role", "operator", "--scope", "env=lab")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Invited new@acme.test as operator; the invitation expires 2030-01-02T03:04:05Z")
	assert.Contains(t, r.stdout, "send them this link (shown once):\nhttps://relay.test/invite#tok\n")
	assert.Contains(t, strings.Join(f.seen(), "\n"), `POST /api/v1/users/invitations {"email":"new@acme.test","role":"operator","scope":{"env":"lab"}}`)

	r = withKey(t, f, "users", "invite", "mailed@acme.test", "--role", "viewer")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "The invitation was mailed.")

	r = withKey(t, f, "apikeys", "create", "ci", "--role", "operator")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "kvm_ak_SECRET\n", r.stdout, "the key alone on stdout")
	assert.Contains(t, r.stderr, "Created API key ci (id k2, prefix kvm_ak_SE, role operator). It is shown this once")

	r = withKey(t, f, "apikeys", "list", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var keys []client.APIKey
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &keys))
	require.Len(t, keys, 1)
	assert.Equal(t, "kvm_ak_ab", keys[0].Prefix)

	r = withKey(t, f, "apikeys", "revoke", "k1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, f.seen(), "DELETE /api/v1/api-keys/k1 null")
}

func TestAudit(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "audit", "list", "--limit", "2")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^SEQ\s+TIME\s+ACTOR\s+ACTION\s+TARGET\s+DETAILS$`, lines[0])
	assert.Regexp(t, `^1\s+2026-04-30T08:00:00Z\s+user:u1\s+device\.create\s+device:d1\s+\{"name":"web1"\}$`, lines[1])
	assert.Regexp(t, `^2\s+2026-04-30T08:00:00Z\s+vera@acme\.test\\x1b\[2J \(user:u1\)\s+device\.create\s+device:d2\s`, lines[2],
		"who acted, by name beside the id, made safe for the terminal")
	assert.Contains(t, r.stderr, "More: kvmctl audit list --after 2 --limit 2")

	r = withKey(t, f, "audit", "list", "--after", "3", "-o", "jsonl")
	require.Equal(t, 0, r.code, r.stderr)
	jl := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, jl, 2)
	assert.JSONEq(t, `{"seq":4,"time":"2026-04-30T08:00:00Z","actor":"user:u1","action":"device.create","target":"device:d4","details":{"name":"web1"},"hash":"h4","prev_hash":"h3"}`, jl[0])

	r = withKey(t, f, "audit", "list", "--after", "4", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var page struct {
		Entries   []map[string]any `json:"entries"`
		NextAfter int64            `json:"next_after"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	assert.Len(t, page.Entries, 1)
	assert.Equal(t, int64(5), page.NextAfter)

	r = withKey(t, f, "audit", "export", "--page-size", "2")
	require.Equal(t, 0, r.code, r.stderr)
	exported := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, exported, 5)
	for i, line := range exported {
		var e client.AuditEntry
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		assert.Equal(t, int64(i+1), e.Seq)
	}
	var afters []string
	for _, req := range f.seen() {
		if strings.HasPrefix(req, "GET /api/v1/audit ") {
			afters = append(afters, req)
		}
	}
	assert.Len(t, afters, 3+4, "three lists, then export's pages after 0, 2, 4 and the empty one after 5")

	r = withKey(t, f, "audit", "verify")
	require.Equal(t, 0, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, "Audit chain intact: 5 entries.\n"), r.stdout)

	f.mu.Lock()
	f.broken = 3
	f.mu.Unlock()
	r = withKey(t, f, "audit", "verify")
	assert.Equal(t, client.ExitChainBroken, r.code)
	assert.Contains(t, r.stderr, "kvmctl: audit chain broken at seq 3: hash does not match the row")
	assert.Contains(t, r.stderr, "the first broken row is seq 3")

	r = withKey(t, f, "audit", "verify", "-o", "json")
	assert.Equal(t, client.ExitChainBroken, r.code)
	assert.JSONEq(t, `{"ok":false,"broken_seq":3,"reason":"hash does not match the row"}`, r.stdout)
}

func TestServerErrorsExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		route    string
		fail     fakeError
		args     []string
		wantCode int
		wantErr  string
	}{
		{"forbidden", "POST /api/v1/devices", fakeError{403, "forbidden", "viewers may not create devices; ask an admin", ""},
			[]string{"devices", "create", "x"}, client.ExitUnauthorized, "viewers may not create devices; ask an admin (forbidden, HTTP 403)"},
		{"conflict", "POST /api/v1/devices", fakeError{409, "conflict", "a device named x exists", ""},
			[]string{"devices", "create", "x"}, client.ExitConflict, "a device named x exists"},
		{"not found", "DELETE /api/v1/api-keys/k9", fakeError{404, "not-found", "no API key k9", ""},
			[]string{"apikeys", "revoke", "k9"}, client.ExitNotFound, "no API key k9"},
		{"rate limited", "GET /api/v1/devices", fakeError{429, "rate-limited", "too many requests", "30"},
			[]string{"devices", "list"}, client.ExitRateLimited, "too many requests (rate-limited, HTTP 429); retry after 30s"},
		{"bad request", "POST /api/v1/users/invitations", fakeError{400, "bad-request", "role: unknown role \"boss\"", ""},
			[]string{"users", "invite", "a@b.test", "--role", "boss"}, client.ExitError, `role: unknown role "boss"`},
		{"escape in a message", "GET /api/v1/users", fakeError{500, "internal", "oops\x1b[2J", ""},
			[]string{"users", "list"}, client.ExitError, `oops\x1b[2J`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRelay(t)
			f.fail[tt.route] = tt.fail
			r := withKey(t, f, tt.args...)
			assert.Equal(t, tt.wantCode, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.wantErr)
			assert.NotContains(t, r.stderr, "\x1b")
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		down := httptest.NewServer(nil)
		url := down.URL
		down.Close()
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"--config-dir", t.TempDir(), "--server", url, "--api-key", "k", "devices", "list"},
			strings.NewReader(""), &out, &errOut)
		assert.Equal(t, client.ExitUnreachable, code)
		assert.Contains(t, errOut.String(), "server "+url+" unreachable")
	})
}

func TestInterruptedPrompt(t *testing.T) {
	f := newFakeRelay(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe() // a prompt nobody answers
	defer pw.Close()
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--config-dir", t.TempDir(), "--server", f.srv.URL, "login", "--org", "acme", "--email", "ops@acme.test"}, pr, &out, &errOut)
	}()
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, client.ExitError, code)
		assert.Contains(t, errOut.String(), "kvmctl: interrupted")
	case <-time.After(10 * time.Second):
		t.Fatal("an interrupt did not end the password prompt")
	}
	assert.Empty(t, f.seen(), "nothing was sent")
}

// console consent finds the device's session waiting for consent and enters the code; a
// refused code exits non-zero with the relay's words; none waiting says what to do.
func TestConsoleConsent(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "console", "consent", "web1", "246810")
	require.NotEqual(t, 0, r.code, "no session waits for consent yet")
	assert.Contains(t, r.stderr, "waits for a consent code: open its console first")

	f.mu.Lock()
	f.sessions["d0000000-0000-4000-8000-000000000001"] = append([]map[string]any{{"id": "s4", "device_id": "d0000000-0000-4000-8000-000000000001",
		"principal": "user:u1", "desired": "ACTIVE", "current": "CONSENT_REQUIRED", "created_at": tCreated, "updated_at": tCreated, "expires_at": tExpires}},
		f.sessions["d0000000-0000-4000-8000-000000000001"]...)
	f.mu.Unlock()
	r = withKey(t, f, "console", "consent", "web1", "111111")
	require.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "The machine refused the code (wrong code)")
	r = withKey(t, f, "console", "consent", "web1", "246810")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "accepted the consent code")
	assert.Contains(t, strings.Join(f.requests, "\n"), "POST /api/v1/devices/d0000000-0000-4000-8000-000000000001/sessions/s4/consent")
	r = withKey(t, f, "console", "consent-cancel", "web1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Cancelled the consent request of session s4")
}
