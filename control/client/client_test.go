package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestClient(t *testing.T, f *fakeRelay, dir string) *Client {
	t.Helper()
	c, err := New(Config{Server: f.srv.URL, HTTPClient: f.srv.Client(), ConfigDir: dir, Now: f.clock})
	require.NoError(t, err)
	return c
}

func login(t *testing.T, c *Client) Tokens {
	t.Helper()
	tok, err := c.Login(context.Background(), LoginRequest{Org: "acme", Email: "ops@acme.test", Password: "hunter2"})
	require.NoError(t, err)
	return tok
}

func readCredentials(t *testing.T, dir string) Credentials {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, CredentialsFile))
	require.NoError(t, err)
	var cr Credentials
	require.NoError(t, json.Unmarshal(b, &cr))
	return cr
}

func TestLoginStoresCredentialsAndSettings(t *testing.T) {
	f := newFakeRelay(t)
	f.totp = "123456"
	dir := filepath.Join(t.TempDir(), "kvmctl")
	c := newTestClient(t, f, dir)
	ctx := context.Background()

	_, err := c.Login(ctx, LoginRequest{Org: "acme", Email: "ops@acme.test", Password: "hunter2"})
	require.Error(t, err)
	assert.True(t, IsMFARequired(err), "%v", err)
	assert.Equal(t, ExitUnauthorized, ExitCode(err))
	assert.Contains(t, err.Error(), "enter the code from your authenticator app")
	assert.NoFileExists(t, filepath.Join(dir, CredentialsFile))

	tok, err := c.Login(ctx, LoginRequest{Org: "acme", Email: "ops@acme.test", Password: "hunter2", TOTP: "123456"})
	require.NoError(t, err)

	st, err := os.Stat(filepath.Join(dir, CredentialsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	cr := readCredentials(t, dir)
	assert.Equal(t, f.srv.URL, cr.Server)
	assert.Equal(t, tok.AccessToken, cr.AccessToken)
	assert.Equal(t, tok.RefreshToken, cr.RefreshToken)

	var s Settings
	_, err = readJSON(filepath.Join(dir, SettingsFile), &s)
	require.NoError(t, err)
	assert.Equal(t, Settings{Server: f.srv.URL, Org: "acme", Email: "ops@acme.test", DeviceToken: "device-1"}, s)

	// A later client needs no --server: config.json remembers it.
	c2, err := New(Config{HTTPClient: f.srv.Client(), ConfigDir: dir, Now: f.clock})
	require.NoError(t, err)
	assert.Equal(t, f.srv.URL, c2.Server())
	me, err := c2.Me(ctx)
	require.NoError(t, err)
	assert.Equal(t, "admin", me.Role)
}

func TestRefreshOn401PersistsRotation(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	c := newTestClient(t, f, dir)
	first := login(t, c)
	ctx := context.Background()

	f.expireAccess() // the server no longer takes the access token the client thinks valid
	_, err := c.Devices(ctx)
	require.NoError(t, err)

	refreshes, reuses, unauth := f.stats()
	assert.Equal(t, 1, refreshes)
	assert.Equal(t, 0, reuses)
	assert.Equal(t, 1, unauth, "one 401, then the retry succeeded")
	cr := readCredentials(t, dir)
	assert.NotEqual(t, first.RefreshToken, cr.RefreshToken, "the rotated refresh token is stored")
	assert.NotEqual(t, first.AccessToken, cr.AccessToken)
	st, err := os.Stat(filepath.Join(dir, CredentialsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The next run (a new client on the same directory) uses the new tokens as they are, and a
	// second expiry refreshes with the stored (rotated) refresh token, never the first one.
	c2 := newTestClient(t, f, dir)
	_, err = c2.Devices(ctx)
	require.NoError(t, err)
	f.expireAccess()
	_, err = c2.Devices(ctx)
	require.NoError(t, err)
	refreshes, reuses, _ = f.stats()
	assert.Equal(t, 2, refreshes)
	assert.Equal(t, 0, reuses)
}

func TestRefreshBeforeExpiry(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	c := newTestClient(t, f, dir)
	login(t, c)
	f.mu.Lock()
	f.now = f.now.Add(20 * time.Minute) // past the 15-minute access token
	f.mu.Unlock()

	_, err := c.Devices(context.Background())
	require.NoError(t, err)
	refreshes, _, unauth := f.stats()
	assert.Equal(t, 1, refreshes)
	assert.Equal(t, 0, unauth, "an expired access token is refreshed before it is sent")
}

func TestParallelRefreshPresentsRefreshTokenOnce(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	login(t, newTestClient(t, f, dir))
	f.mu.Lock()
	f.now = f.now.Add(time.Hour)
	f.mu.Unlock()

	// Eight kvmctl runs at once on one config directory, all with an expired access token.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		c := newTestClient(t, f, dir)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Devices(context.Background())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	refreshes, reuses, _ := f.stats()
	assert.Equal(t, 1, refreshes, "one refresh; the others follow the stored result")
	assert.Equal(t, 0, reuses, "a rotated refresh token is never presented again")
}

func TestRefreshFollowsAnotherProcess(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	first := login(t, newTestClient(t, f, dir))
	ctx := context.Background()

	// Process A refreshes; process B then gets a 401 for the token it had read before.
	f.expireAccess()
	a := newTestClient(t, f, dir)
	_, err := a.Devices(ctx)
	require.NoError(t, err)
	b := newTestClient(t, f, dir)
	tok, err := b.refresh(ctx, first.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, readCredentials(t, dir).AccessToken, tok)
	refreshes, reuses, _ := f.stats()
	assert.Equal(t, 1, refreshes)
	assert.Equal(t, 0, reuses)
}

func TestRefreshRefusedNeedsLogin(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	c := newTestClient(t, f, dir)
	login(t, c)
	f.mu.Lock()
	f.refresh = map[string]bool{} // the session was revoked at the server
	f.access = map[string]bool{}
	f.mu.Unlock()

	_, err := c.Devices(context.Background())
	require.Error(t, err)
	assert.Equal(t, ExitUnauthorized, ExitCode(err))
	assert.Contains(t, err.Error(), "refresh token not accepted: log in again")
	assert.Contains(t, err.Error(), "kvmctl --server "+f.srv.URL+" login")
}

func TestCredentialsStayWithTheirServer(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	login(t, newTestClient(t, f, dir))

	other := newFakeRelay(t)
	c, err := New(Config{Server: other.srv.URL, HTTPClient: other.srv.Client(), ConfigDir: dir, Now: other.clock})
	require.NoError(t, err)
	_, err = c.Devices(context.Background())
	require.ErrorIs(t, err, ErrNotLoggedIn)
	assert.Equal(t, ExitUnauthorized, ExitCode(err))
	other.mu.Lock()
	defer other.mu.Unlock()
	assert.Empty(t, other.authSeen, "the other server's tokens were never sent")
}

func TestAPIKey(t *testing.T) {
	f := newFakeRelay(t)
	ctx := context.Background()

	// Given in the config (KVMCTL_API_KEY): used as is, nothing stored, no refresh on 401.
	dir := t.TempDir()
	c, err := New(Config{Server: f.srv.URL, HTTPClient: f.srv.Client(), ConfigDir: dir, APIKey: "kvm_ak_good"})
	require.NoError(t, err)
	_, err = c.Devices(ctx)
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(dir, CredentialsFile))

	bad, err := New(Config{Server: f.srv.URL, HTTPClient: f.srv.Client(), ConfigDir: dir, APIKey: "kvm_ak_bad"})
	require.NoError(t, err)
	_, err = bad.Devices(ctx)
	assert.Equal(t, ExitUnauthorized, ExitCode(err))
	refreshes, _, _ := f.stats()
	assert.Equal(t, 0, refreshes)

	// Stored by login --api-key after the server accepted it.
	c2 := newTestClient(t, f, dir)
	me, err := c2.LoginAPIKey(ctx, "kvm_ak_good")
	require.NoError(t, err)
	assert.Equal(t, "acme", me.OrgSlug)
	assert.Equal(t, "kvm_ak_good", readCredentials(t, dir).APIKey)
	_, err = newTestClient(t, f, dir).Devices(ctx)
	require.NoError(t, err)

	_, err = newTestClient(t, f, t.TempDir()).LoginAPIKey(ctx, "kvm_ak_bad")
	assert.Equal(t, ExitUnauthorized, ExitCode(err))
}

func TestLogout(t *testing.T) {
	f := newFakeRelay(t)
	dir := t.TempDir()
	c := newTestClient(t, f, dir)
	tok := login(t, c)
	hadKey, err := c.Logout(context.Background())
	require.NoError(t, err)
	assert.False(t, hadKey)
	assert.NoFileExists(t, filepath.Join(dir, CredentialsFile))
	f.mu.Lock()
	assert.False(t, f.refresh[tok.RefreshToken], "the server revoked the refresh token")
	f.mu.Unlock()
	_, err = c.Devices(context.Background())
	assert.ErrorIs(t, err, ErrNotLoggedIn)
}

// TestErrorExitCodes maps the server's answers (and the lack of one) to exit codes.
func TestErrorExitCodes(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		header      map[string]string
		wantExit    int
		wantCode    string
		wantMessage string
	}{
		{"bad request", 400, "application/json", `{"code":"bad-request","message":"name: at most 64 characters"}`, nil, ExitError, CodeBadRequest, "name: at most 64 characters"},
		{"unauthorized", 401, "application/json", `{"code":"unauthorized","message":"log in again"}`, nil, ExitUnauthorized, CodeUnauthorized, "log in again"},
		{"forbidden", 403, "application/json", `{"code":"forbidden","message":"operators may not create devices; ask an admin"}`, nil, ExitUnauthorized, CodeForbidden, "ask an admin"},
		{"not found", 404, "application/json", `{"code":"not-found","message":"no such device"}`, nil, ExitNotFound, CodeNotFound, "no such device"},
		{"conflict", 409, "application/json", `{"code":"conflict","message":"a device named web1 exists"}`, nil, ExitConflict, CodeConflict, "a device named web1 exists"},
		{"rate limited", 429, "application/json", `{"code":"rate-limited","message":"slow down"}`, map[string]string{"Retry-After": "7"}, ExitRateLimited, CodeRateLimited, "retry after 7s"},
		{"internal", 500, "application/json", `{"code":"internal","message":"internal error, id 42"}`, nil, ExitError, CodeInternal, "internal error, id 42"},
		{"unknown code, known status", 409, "application/json", `{"code":"gone-fishing","message":"later"}`, nil, ExitConflict, "gone-fishing", "later"},
		{"plain text 404", 404, "text/plain", "404 page not found", nil, ExitNotFound, CodeNotFound, "404 page not found"},
		{"proxy 502", 502, "text/html", "<html>Bad Gateway</html>", nil, ExitUnreachable, "", "HTTP 502"},
		{"proxy 503", 503, "text/html", "", nil, ExitUnreachable, "", "HTTP 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c, err := New(Config{Server: srv.URL, HTTPClient: srv.Client(), ConfigDir: t.TempDir(), APIKey: "kvm_ak_x"})
			require.NoError(t, err)
			_, err = c.Devices(context.Background())
			require.Error(t, err)
			assert.Equal(t, tt.wantExit, ExitCode(err), "%v", err)
			assert.Contains(t, err.Error(), tt.wantMessage)
			var ae *APIError
			if tt.wantCode != "" {
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tt.wantCode, ae.Code)
				assert.Equal(t, tt.status, ae.Status)
			} else {
				assert.False(t, errors.As(err, &ae))
			}
		})
	}
}

func TestExitCodesWithoutAnAnswer(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()

	tests := []struct {
		name string
		cfg  Config
		want int
	}{
		{"connection refused", Config{Server: url, APIKey: "k"}, ExitUnreachable},
		{"not logged in", Config{Server: url}, ExitUnauthorized},
		{"no server", Config{}, ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.ConfigDir = t.TempDir()
			c, err := New(tt.cfg)
			require.NoError(t, err)
			_, err = c.Devices(context.Background())
			require.Error(t, err)
			assert.Equal(t, tt.want, ExitCode(err), "%v", err)
		})
	}
	assert.Equal(t, ExitOK, ExitCode(nil))
	assert.Equal(t, ExitChainBroken, ExitCode(fmt.Errorf("verify: %w", AuditVerification{BrokenSeq: 9, Reason: "hash"}.Err())))
	assert.Equal(t, ExitUsage, ExitCode(&UsageError{Msg: "x"}))
	assert.Equal(t, ExitError, ExitCode(errors.New("anything else")))
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 90*time.Second, retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now))
	assert.Equal(t, 3*time.Second, retryAfter("3", now))
	assert.Zero(t, retryAfter("soon", now))
	assert.Zero(t, retryAfter("", now))
}

func TestExportAuditPages(t *testing.T) {
	f := newFakeRelay(t)
	for i := int64(1); i <= 7; i++ {
		f.audit = append(f.audit, AuditEntry{
			Seq: i, Time: f.now, Actor: TextOf("user:u1"), Action: "device.create",
			Target: TextOf(fmt.Sprintf("device:d%d", i)), Details: json.RawMessage(`{"n":1}`),
			Hash: fmt.Sprintf("h%d", i), PrevHash: fmt.Sprintf("h%d", i-1),
		})
	}
	c, err := New(Config{Server: f.srv.URL, HTTPClient: f.srv.Client(), ConfigDir: t.TempDir(), APIKey: "kvm_ak_good"})
	require.NoError(t, err)

	var got []int64
	err = c.ExportAudit(context.Background(), 0, 3, func(e AuditEntry) error {
		got = append(got, e.Seq)
		assert.Contains(t, string(e.Raw), `"prev_hash":"h`+fmt.Sprint(e.Seq-1)+`"`)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7}, got)
	assert.Equal(t, []int64{0, 3, 6, 7}, f.auditAfters, "three pages, then the empty one that ends it")

	// From the middle.
	got = nil
	require.NoError(t, c.ExportAudit(context.Background(), 5, 100, func(e AuditEntry) error {
		got = append(got, e.Seq)
		return nil
	}))
	assert.Equal(t, []int64{6, 7}, got)
}

func TestExportAuditRefusesAStuckServer(t *testing.T) {
	tests := []struct {
		name string
		page string // every page the server answers
		want string
	}{
		{"pages repeat", `{"entries":[{"seq":1}],"next_after":1}`, "sent seq 1 after seq 1"},
		{"next_after goes back", `{"entries":[{"seq":5}],"next_after":3}`, "next page (after 3) does not move past 3"},
		{"seq goes back in a page", `{"entries":[{"seq":2},{"seq":1}],"next_after":2}`, "sent seq 1 after seq 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tt.page)
			}))
			defer srv.Close()
			c, err := New(Config{Server: srv.URL, HTTPClient: srv.Client(), ConfigDir: t.TempDir(), APIKey: "k"})
			require.NoError(t, err)
			n := 0
			err = c.ExportAudit(context.Background(), 0, 10, func(AuditEntry) error { n++; return nil })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Less(t, n, 5)
		})
	}
}

func TestResolveDevice(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	revoked := at.Add(time.Hour)
	devices := []Device{
		{ID: "11111111-0000-4000-8000-000000000001", Name: "web1", CreatedAt: at},
		{ID: "11111111-0000-4000-8000-000000000002", Name: "db", CreatedAt: at, Labels: map[string]string{"rack": "a"}},
		{ID: "11111111-0000-4000-8000-000000000003", Name: "db", CreatedAt: at.Add(time.Minute), Labels: map[string]string{"rack": "b"}},
		{ID: "11111111-0000-4000-8000-000000000004", Name: "mail", CreatedAt: at, RevokedAt: &revoked},
		{ID: "11111111-0000-4000-8000-000000000005", Name: "mail", CreatedAt: at.Add(2 * time.Hour)},
		{ID: "11111111-0000-4000-8000-000000000006", Name: "11111111-0000-4000-8000-000000000001", CreatedAt: at},
		{ID: "11111111-0000-4000-8000-000000000007", Name: "old", CreatedAt: at, RevokedAt: &revoked},
	}
	tests := []struct {
		name     string
		ref      string
		wantID   string
		wantExit int
		wantErr  []string
	}{
		{"by id", "11111111-0000-4000-8000-000000000002", "11111111-0000-4000-8000-000000000002", 0, nil},
		{"by unique name", "web1", "11111111-0000-4000-8000-000000000001", 0, nil},
		{"an id wins over a name", "11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000001", 0, nil},
		{"the live one of a name", "mail", "11111111-0000-4000-8000-000000000005", 0, nil},
		{"a revoked device by name", "old", "11111111-0000-4000-8000-000000000007", 0, nil},
		{"ambiguous", "db", "", ExitError, []string{`"db" names 2 devices; use an id`, "11111111-0000-4000-8000-000000000002", "rack=a", "11111111-0000-4000-8000-000000000003", "rack=b"}},
		{"unknown", "nope", "", ExitNotFound, []string{`no device has the id or name "nope"`, "kvmctl devices list"}},
		{"case matters", "WEB1", "", ExitNotFound, nil},
	}
	f := newFakeRelay(t)
	f.devices = devices
	c, err := New(Config{Server: f.srv.URL, HTTPClient: f.srv.Client(), ConfigDir: t.TempDir(), APIKey: "kvm_ak_good"})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := c.ResolveDevice(context.Background(), tt.ref)
			if tt.wantID != "" {
				require.NoError(t, err)
				assert.Equal(t, tt.wantID, d.ID)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantExit, ExitCode(err))
			for _, s := range tt.wantErr {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
	var amb *AmbiguousError
	_, err = c.ResolveDevice(context.Background(), "db")
	require.ErrorAs(t, err, &amb)
	assert.Len(t, amb.Candidates, 2)
}

func TestNormalizeServer(t *testing.T) {
	tests := []struct {
		in        string
		allowHTTP bool
		want      string
		wantErr   string
	}{
		{"https://relay.example.com/", false, "https://relay.example.com", ""},
		{"https://relay.example.com/kvm/", false, "https://relay.example.com/kvm", ""},
		{"http://127.0.0.1:8080", false, "http://127.0.0.1:8080", ""},
		{"http://localhost:8080/", false, "http://localhost:8080", ""},
		{"http://[::1]:8080", false, "http://[::1]:8080", ""},
		{"http://relay.example.com", false, "", "plain http off loopback"},
		{"http://relay.example.com", true, "http://relay.example.com", ""},
		{"relay.example.com", false, "", "want https://"},
		{"ftp://relay.example.com", false, "", "want https://"},
		{"https://user:pw@relay.example.com", false, "", "no user, query or fragment"},
		{"https://relay.example.com/?x=1", false, "", "no user, query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeServer(tt.in, tt.allowHTTP)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Equal(t, ExitUsage, ExitCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConfigDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"XDG", map[string]string{"XDG_CONFIG_HOME": "/x/cfg", "HOME": "/home/op"}, "/x/cfg/kvmctl"},
		{"relative XDG is ignored", map[string]string{"XDG_CONFIG_HOME": "cfg", "HOME": "/home/op"}, "/home/op/.config/kvmctl"},
		{"HOME", map[string]string{"HOME": "/home/op"}, "/home/op/.config/kvmctl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigDir(func(k string) string { return tt.env[k] })
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-01 ünïcode ✓", "web-01 ünïcode ✓"},
		{"evil\x1b[2J\x1b]0;pwned\x07", `evil\x1b[2J\x1b]0;pwned\x07`},
		{"two\nlines\tand tab", `two\x0alines\x09and tab`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"bad \xff byte", `bad \xff byte`},
		{"c1 \u009b31m", `c1 \u009b31m`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Sanitize(tt.in), "%q", tt.in)
	}
}

func TestText(t *testing.T) {
	var s Session
	require.NoError(t, json.Unmarshal([]byte(`{"principal":{"kind":"user","id":"u1"}}`), &s))
	assert.Equal(t, `{"kind":"user","id":"u1"}`, s.Principal.String())
	b, err := json.Marshal(s.Principal)
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"user","id":"u1"}`, string(b))

	require.NoError(t, json.Unmarshal([]byte(`{"principal":"user:u1"}`), &s))
	assert.Equal(t, "user:u1", s.Principal.String())
	require.NoError(t, json.Unmarshal([]byte(`{"principal":null}`), &s))
	assert.Equal(t, "", s.Principal.String())
	assert.True(t, strings.HasPrefix(string(TextOf("x").raw), `"`))
}

// TestLoginShowsTheDeviceToken: kvmctl keeps the device token a login answered and shows it
// at its next logins of the same user on the same server (a flood of wrong passwords at the
// account from elsewhere then does not slow it down), across logout.
func TestLoginShowsTheDeviceToken(t *testing.T) {
	f := newFakeRelay(t)
	dir := filepath.Join(t.TempDir(), "kvmctl")
	c := newTestClient(t, f, dir)
	ctx := context.Background()
	_, err := c.Login(ctx, LoginRequest{Org: "acme", Email: "ops@acme.test", Password: "hunter2"})
	require.NoError(t, err)
	_, err = c.Logout(ctx)
	require.NoError(t, err)
	_, err = newTestClient(t, f, dir).Login(ctx, LoginRequest{Org: "acme", Email: "ops@acme.test", Password: "hunter2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"", "device-1"}, f.shown)
}
