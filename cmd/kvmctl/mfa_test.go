package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	goqr "github.com/piglig/go-qr"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
)

// mfaRelay is a fake of the relay's MFA routes that checks real TOTP codes, so the tests play
// the authenticator with what kvmctl printed.
type mfaRelay struct {
	mu       sync.Mutex
	required bool // the organization requires MFA
	guests   bool // guest links are on
	pending  string
	secret   string // confirmed secret ("" MFA off)
	recovery []string
	// The recording settings.
	recording     string
	recordingKeys bool
	retention     int
}

// org is the organization as the fake answers it.
func (m *mfaRelay) org() map[string]any {
	return map[string]any{"id": "o1", "name": "ACME", "slug": "acme", "idle_timeout_s": 900, "max_session_s": 28800, "require_mfa": m.required,
		"guest_links": m.guests, "recording": m.recording, "recording_keys": m.recordingKeys, "recording_retention_days": m.retention}
}

func newMFARelay(t *testing.T, required bool) (*fakeRelay, *mfaRelay) {
	m := &mfaRelay{required: required, recording: "off", retention: 30}
	mux := http.NewServeMux()
	handle := func(pattern string, h func(in map[string]string, bearer string) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			var in map[string]string
			_ = json.NewDecoder(r.Body).Decode(&in)
			m.mu.Lock()
			defer m.mu.Unlock()
			bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if pattern != "POST /api/v1/auth/login" && bearer != fakeAccess && bearer != fakeKey {
				answer(w, 401, map[string]string{"code": "unauthorized", "message": "log in again"})
				return
			}
			if bearer == fakeKey && pattern != "GET /api/v1/me" {
				answer(w, 403, map[string]string{"code": "forbidden", "message": "Your role does not allow this."})
				return
			}
			status, out := h(in, bearer)
			answer(w, status, out)
		})
	}
	restricted := func() bool { return m.required && m.secret == "" }
	newCodes := func() []string {
		m.recovery = []string{"aaaaa-bbbbb", "ccccc-ddddd", "eeeee-fffff"}
		return m.recovery
	}
	bad := map[string]string{"code": "bad-request", "message": "The request is invalid: TOTP code does not match"}
	handle("POST /api/v1/auth/login", func(in map[string]string, _ string) (int, any) {
		return 200, map[string]any{"token_type": "Bearer", "access_token": fakeAccess, "access_expires_at": tExpires,
			"refresh_token": "refresh-1", "refresh_expires_at": tExpires, "mfa_enrollment_required": restricted()}
	})
	handle("GET /api/v1/me", func(_ map[string]string, bearer string) (int, any) {
		if bearer == fakeKey {
			return 200, map[string]any{"org_id": "o1", "org_slug": "acme", "kind": "apikey", "id": "k1", "role": "operator"}
		}
		return 200, map[string]any{"org_id": "o1", "org_slug": "acme", "kind": "user", "id": "u1", "email": "vera@acme.test", "role": "operator",
			"mfa_enabled": m.secret != "", "mfa_enrollment_required": restricted()}
	})
	handle("GET /api/v1/devices", func(map[string]string, string) (int, any) {
		if restricted() {
			return 403, map[string]string{"code": "mfa-enrollment-required", "message": "Your organization requires MFA: turn it on first."}
		}
		return 200, map[string]any{"devices": []any{}}
	})
	handle("POST /api/v1/me/totp", func(map[string]string, string) (int, any) {
		k, err := totp.Generate(totp.GenerateOpts{Issuer: "kvmrelay", AccountName: "vera@acme.test"})
		require.NoError(t, err)
		m.pending = k.Secret()
		return 200, map[string]string{"secret": k.Secret(), "otpauth_url": k.URL(), "qr_code": "data:image/svg+xml;base64,"}
	})
	handle("POST /api/v1/me/totp/confirm", func(in map[string]string, _ string) (int, any) {
		if m.pending == "" || !totp.Validate(in["code"], m.pending) {
			return 400, bad
		}
		m.secret, m.pending = m.pending, ""
		return 200, map[string]any{"recovery_codes": newCodes()}
	})
	handle("POST /api/v1/me/totp/recovery-codes", func(in map[string]string, _ string) (int, any) {
		if m.secret == "" || !totp.Validate(in["code"], m.secret) {
			return 400, bad
		}
		return 200, map[string]any{"recovery_codes": newCodes()}
	})
	handle("DELETE /api/v1/me/totp", func(in map[string]string, _ string) (int, any) {
		ok := m.secret != "" && totp.Validate(in["code"], m.secret)
		for i, c := range m.recovery {
			if c == in["code"] {
				ok, m.recovery = true, append(m.recovery[:i:i], m.recovery[i+1:]...)
				break
			}
		}
		if !ok {
			return 400, bad
		}
		m.secret = ""
		return 204, nil
	})
	handle("GET /api/v1/org", func(map[string]string, string) (int, any) {
		return 200, m.org()
	})
	mux.HandleFunc("PATCH /api/v1/org/settings", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		m.mu.Lock()
		defer m.mu.Unlock()
		if in["require_mfa"] == true && m.secret == "" {
			answer(w, 400, map[string]string{"code": "bad-request", "message": "The request is invalid: turn on MFA for your own account first"})
			return
		}
		if v, ok := in["require_mfa"].(bool); ok {
			m.required = v
		}
		if v, ok := in["guest_links"].(bool); ok {
			m.guests = v
		}
		if v, ok := in["recording"].(string); ok {
			m.recording = v
		}
		if v, ok := in["recording_keys"].(bool); ok {
			m.recordingKeys = v
		}
		if v, ok := in["recording_retention_days"].(float64); ok {
			m.retention = int(v)
		}
		answer(w, 200, m.org())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fakeRelay{srv: srv}, m
}

// syncBuffer is a bytes.Buffer that kvmctl writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// qrFrom finds the half-block drawing in out, paints it as a light-on-dark terminal shows it
// and decodes it with the QR library's decoder.
func qrFrom(t *testing.T, out string, ink, paper color.Color) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.ContainsAny(l, "█▀▄") {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines, "no QR code in %q", out)
	const px = 4
	w := len([]rune(lines[0]))
	img := image.NewGray(image.Rect(0, 0, w*px, len(lines)*2*px))
	for ly, line := range lines {
		for x, r := range []rune(line) {
			top, bottom := r == '█' || r == '▀', r == '█' || r == '▄'
			for dy := 0; dy < 2*px; dy++ {
				on := top
				if dy >= px {
					on = bottom
				}
				c := paper
				if on {
					c = ink
				}
				for dx := 0; dx < px; dx++ {
					img.Set(x*px+dx, ly*2*px+dy, c)
				}
			}
		}
	}
	text, err := goqr.Decode(img)
	require.NoError(t, err, "the terminal QR code decodes")
	return text
}

// interactive runs kvmctl with a stdin the test writes to as it reads the output.
type interactive struct {
	stdin          *io.PipeWriter
	stdout, stderr *syncBuffer
	done           chan int
}

func startKvmctl(t *testing.T, f *fakeRelay, dir string, args ...string) *interactive {
	t.Helper()
	pr, pw := io.Pipe()
	it := &interactive{stdin: pw, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan int, 1)}
	full := append([]string{"--config-dir", dir, "--server", f.srv.URL}, args...)
	go func() { it.done <- run(context.Background(), full, pr, it.stdout, it.stderr) }()
	t.Cleanup(func() { _ = pw.Close() })
	return it
}

// waitFor waits until stderr shows a prompt.
func (it *interactive) waitFor(t *testing.T, prompt string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(it.stderr.String(), prompt) }, 10*time.Second, 5*time.Millisecond,
		"prompt %q; stderr %q", prompt, it.stderr.String())
}

func (it *interactive) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-it.done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("kvmctl did not finish")
		return -1
	}
}

func codeFor(t *testing.T, otpauthURL string) string {
	t.Helper()
	u, err := url.Parse(otpauthURL)
	require.NoError(t, err)
	c, err := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	require.NoError(t, err)
	return c
}

// TestMFAEnableRequiredByOrg: a member of an organization that requires MFA logs in, is told to
// enroll, scans the terminal QR code, confirms, gets recovery codes and can work.
func TestMFAEnableRequiredByOrg(t *testing.T) {
	f, m := newMFARelay(t, true)
	dir := t.TempDir()

	r := kvmctl(t, f, dir, " hunter2 \n", "login", "--org", "acme", "--email", "vera@acme.test")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "kvmctl: your organization requires MFA: run kvmctl mfa enable")
	r = kvmctl(t, f, dir, "", "devices", "list")
	assert.Equal(t, client.ExitUnauthorized, r.code)
	assert.Equal(t, "kvmctl: your organization requires MFA: run kvmctl mfa enable\n", r.stderr)

	it := startKvmctl(t, f, dir, "mfa", "enable")
	it.waitFor(t, "Code from your authenticator app, to confirm: ")
	out := it.stdout.String()
	uri := qrFrom(t, out, color.White, color.Black)
	assert.True(t, strings.HasPrefix(uri, "otpauth://totp/kvmrelay:vera@acme.test?"), uri)
	assert.Contains(t, out, "\n"+uri+"\n", "the URI is printed too, for copying")
	m.mu.Lock()
	assert.Contains(t, out, "Key: "+m.pending+"\n")
	m.mu.Unlock()
	_, err := io.WriteString(it.stdin, codeFor(t, uri)+"\n")
	require.NoError(t, err)
	require.Equal(t, 0, it.exit(t), it.stderr.String())
	out = it.stdout.String()
	assert.Contains(t, out, "MFA is on for vera@acme.test")
	assert.Contains(t, out, "Recovery codes (shown this once")
	assert.Regexp(t, regexp.MustCompile(`(?m)^  aaaaa-bbbbb\n  ccccc-ddddd\n  eeeee-fffff\n$`), out)
	assert.NotContains(t, it.stderr.String(), m.secret, "the code prompt echoes nothing")

	r = kvmctl(t, f, dir, "", "devices", "list")
	assert.Equal(t, 0, r.code, r.stderr)

	r = kvmctl(t, f, dir, "", "mfa", "enable")
	assert.Equal(t, client.ExitConflict, r.code)
	assert.Contains(t, r.stderr, "MFA is already on")
}

func TestMFAEnableWrongCodeAndInvert(t *testing.T) {
	f, m := newMFARelay(t, false)
	dir := t.TempDir()
	require.Equal(t, 0, kvmctl(t, f, dir, " hunter2 \n", "login", "--org", "acme", "--email", "vera@acme.test").code)

	it := startKvmctl(t, f, dir, "mfa", "enable", "--qr-invert")
	it.waitFor(t, "to confirm: ")
	uri := qrFrom(t, it.stdout.String(), color.Black, color.White)
	assert.True(t, strings.HasPrefix(uri, "otpauth://"), uri)
	_, err := io.WriteString(it.stdin, "000000\n")
	require.NoError(t, err)
	assert.Equal(t, client.ExitError, it.exit(t))
	assert.Contains(t, it.stderr.String(), "TOTP code does not match")
	assert.Contains(t, it.stderr.String(), "MFA stays off; run kvmctl mfa enable again")
	assert.NotContains(t, it.stdout.String(), "Recovery codes")
	m.mu.Lock()
	assert.Empty(t, m.secret)
	m.mu.Unlock()
}

func TestMFARecoveryCodesAndDisable(t *testing.T) {
	f, m := newMFARelay(t, false)
	dir := t.TempDir()
	require.Equal(t, 0, kvmctl(t, f, dir, " hunter2 \n", "login", "--org", "acme", "--email", "vera@acme.test").code)

	r := kvmctl(t, f, dir, "", "mfa", "disable", "--code", "123456")
	assert.Equal(t, client.ExitConflict, r.code)
	assert.Contains(t, r.stderr, "MFA is not on for vera@acme.test")
	r = kvmctl(t, f, dir, "", "mfa", "recovery-codes")
	assert.Equal(t, client.ExitConflict, r.code)
	assert.Contains(t, r.stderr, "run kvmctl mfa enable")

	m.mu.Lock()
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "kvmrelay", AccountName: "vera@acme.test"})
	require.NoError(t, err)
	m.secret, m.recovery = k.Secret(), []string{"old-1"}
	m.mu.Unlock()
	now, err := totp.GenerateCode(k.Secret(), time.Now())
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"code from a pipe", now + "\n", nil},
		{"--code", "", []string{"--code", now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kvmctl(t, f, dir, tc.stdin, append([]string{"mfa", "recovery-codes"}, tc.args...)...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "New recovery codes; the old ones no longer work.")
			assert.Contains(t, r.stdout, "  ccccc-ddddd\n")
		})
	}
	r = kvmctl(t, f, dir, "999999\n", "mfa", "recovery-codes")
	assert.Equal(t, client.ExitError, r.code)
	assert.Contains(t, r.stderr, "TOTP code does not match")

	// A recovery code from a pipe turns MFA off.
	r = kvmctl(t, f, dir, "eeeee-fffff\n", "mfa", "disable")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "MFA is off for vera@acme.test")
	assert.Contains(t, r.stderr, "Code from your authenticator app (or a recovery code): ")
	m.mu.Lock()
	assert.Empty(t, m.secret)
	m.mu.Unlock()
}

func TestMFAWithAPIKey(t *testing.T) {
	f, _ := newMFARelay(t, false)
	for _, verb := range []string{"enable", "disable", "recovery-codes"} {
		r := kvmctl(t, f, t.TempDir(), "", "mfa", verb, "--api-key", fakeKey)
		assert.Equal(t, client.ExitUsage, r.code, verb)
		assert.Contains(t, r.stderr, "a second factor belongs to a user", verb)
	}
}

func TestOrgRequireMFA(t *testing.T) {
	f, m := newMFARelay(t, false)
	dir := t.TempDir()
	require.Equal(t, 0, kvmctl(t, f, dir, " hunter2 \n", "login", "--org", "acme", "--email", "vera@acme.test").code)

	r := kvmctl(t, f, dir, "", "org", "show")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^acme\s+ACME\s+15m0s\s+8h0m0s\s+false\s+off\s+off\s+off\s+30d$`, r.stdout)

	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"nothing to change", nil, client.ExitUsage, "give --require-mfa true or false"},
		{"not a boolean", []string{"--require-mfa", "sometimes"}, client.ExitUsage, `--require-mfa "sometimes": want true or false`},
		{"own MFA off", []string{"--require-mfa", "true"}, client.ExitError, "turn on MFA for your own account first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kvmctl(t, f, dir, "", append([]string{"org", "set"}, tc.args...)...)
			assert.Equal(t, tc.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.wantErr)
		})
	}

	m.mu.Lock()
	m.secret = "JBSWY3DPEHPK3PXP"
	m.mu.Unlock()
	r = kvmctl(t, f, dir, "", "org", "set", "--require-mfa", "true")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "can only enroll it (kvmctl mfa enable)")
	assert.Regexp(t, `(?m)^acme\s+ACME\s+15m0s\s+8h0m0s\s+true\s+off\s+off\s+off\s+30d$`, r.stdout)
	r = kvmctl(t, f, dir, "", "org", "set", "--require-mfa=false", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var o client.Org
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &o))
	assert.False(t, o.RequireMFA)

	// Guest links: on and off, other settings kept.
	r = kvmctl(t, f, dir, "", "org", "set", "--guest-links", "on")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "may now create view-only guest links")
	assert.Regexp(t, `(?m)^acme\s+ACME\s+15m0s\s+8h0m0s\s+false\s+on\s+off\s+off\s+30d$`, r.stdout)
	r = kvmctl(t, f, dir, "", "org", "set", "--guest-links", "off")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "guests' consoles were ended")
	assert.Regexp(t, `(?m)^acme\s+ACME\s+15m0s\s+8h0m0s\s+false\s+off\s+off\s+off\s+30d$`, r.stdout)
	r = kvmctl(t, f, dir, "", "org", "set", "--guest-links", "maybe")
	assert.Equal(t, client.ExitUsage, r.code)
	assert.Contains(t, r.stderr, `--guest-links "maybe": want on or off`)

	// Recording: policy, keystroke capture and retention.
	r = kvmctl(t, f, dir, "", "org", "set", "--recording", "required", "--recording-keys", "on", "--recording-retention", "90d")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Recordings now keep every key typed")
	assert.Regexp(t, `(?m)^acme\s+ACME\s+15m0s\s+8h0m0s\s+false\s+off\s+required\s+on\s+90d$`, r.stdout)
	r = kvmctl(t, f, dir, "", "org", "set", "--recording-retention", "7")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)\s+required\s+on\s+7d$`, r.stdout)
	for _, bad := range [][]string{
		{"--recording", "always"}, {"--recording-keys", "perhaps"}, {"--recording-retention", "0d"},
		{"--recording-retention", "3651d"}, {"--recording-retention", "1w"},
	} {
		r = kvmctl(t, f, dir, "", append([]string{"org", "set"}, bad...)...)
		assert.Equal(t, client.ExitUsage, r.code, "%v: %s", bad, r.stderr)
		assert.Contains(t, r.stderr, bad[0], "%v", bad)
	}
}
