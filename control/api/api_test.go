package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/shares"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// pg is the PostgreSQL cluster this test binary shares, started only by the tests that use it.
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop postgres:", err)
		code = 1
	}
	if code == 0 {
		// fasthttp's once-started date ticker lives for the process.
		// TestExportStreamsPages serves on a real listener: its worker pool's idle cleaner
		// sleeps out its 10 s tick after Shutdown.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cutter records the devices the API asked the relay to disconnect.
type cutter struct {
	mu  sync.Mutex
	cut []string
}

func (c *cutter) DisconnectDevice(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = append(c.cut, strings.Clone(id)) // fiber's params point into a buffer the next request reuses
	return nil
}

type env struct {
	t       *testing.T
	app     *fiber.App
	st      store.Store
	dataDir string
	acc     *accounts.Service
	mgr     *sessions.Manager
	cut     *cutter
	machine *consentMachine
	iss     *auth.Issuer
	rec     *recordings.Service
}

const ownerPassword = "correct horse battery staple"

func newEnv(t *testing.T) *env {
	t.Helper()
	// Without the refresh grace window: these tests present a rotated refresh token again at
	// once, from the one address app.Test has, and mean a reuse (TestRefreshGraceAPI turns
	// the window on).
	return newEnvWith(t, func(c *accounts.Config) { c.RefreshGrace = -1 })
}

// newEnvWith is newEnv with the accounts configuration adjusted by mod.
func newEnvWith(t *testing.T, mod func(*accounts.Config)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	_, err := sqlite.Migrate(ctx, dir)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	e := newEnvOn(t, st, mod)
	e.dataDir = dir
	return e
}

// newEnvOn is newEnvWith over the store st.
func newEnvOn(t *testing.T, st store.Store, mod func(*accounts.Config)) *env {
	t.Helper()
	key, err := auth.GenerateKey()
	require.NoError(t, err)
	keys, err := auth.NewKeyring(key)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: "kvmrelay"})
	require.NoError(t, err)
	// Cheap hashing: the costs are the accounts package's business, not this test's.
	cfg := accounts.Config{Store: st, Issuer: iss, PublicURL: "https://relay.example",
		Argon2: accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	mod(&cfg)
	acc, err := accounts.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = acc.Close(context.Background()) })
	mgr, err := sessions.New(sessions.Config{Store: st, Issuer: iss, PublicURL: "https://relay.example"})
	require.NoError(t, err)
	cut := &cutter{}
	machine := &consentMachine{mgr: mgr, st: st}
	sh, err := shares.New(shares.Config{Store: st, Sessions: mgr, PublicURL: "https://relay.example"})
	require.NoError(t, err)
	rec, err := recordings.New(recordings.Config{Store: st, RecordingsDir: t.TempDir()})
	require.NoError(t, err)
	a, err := New(Config{Store: st, Accounts: acc, Sessions: mgr, Devices: cut, Consent: machine, Shares: sh, Recordings: rec})
	require.NoError(t, err)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	a.Mount(app.Group("/api/v1"))
	return &env{t: t, app: app, st: st, acc: acc, mgr: mgr, cut: cut, machine: machine, iss: iss, rec: rec}
}

// do sends a request and decodes a JSON answer into out (when not nil); it returns the status.
func (e *env) do(method, path, bearer string, in, out any) int {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(e.t, err)
		body = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.app.Test(req, 10_000)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	if resp.StatusCode >= 400 {
		var apiErr Error
		require.NoError(e.t, json.Unmarshal(raw, &apiErr), "every error is JSON: %s", raw)
		require.NotEmpty(e.t, apiErr.Code)
		require.NotEmpty(e.t, apiErr.Message)
	}
	if out != nil && len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode
}

// owner bootstraps an organization and logs its owner in.
func (e *env) owner(slug string) (store.Organization, string) {
	e.t.Helper()
	org, _, err := e.acc.CreateOwner(context.Background(), strings.ToUpper(slug), slug, "owner@"+slug+".example", ownerPassword)
	require.NoError(e.t, err)
	return org, e.login(slug, "owner@"+slug+".example", ownerPassword)
}

func (e *env) login(org, email, password string) string {
	e.t.Helper()
	var tok tokensView
	require.Equal(e.t, http.StatusOK, e.do("POST", "/api/v1/auth/login", "", loginRequest{Org: org, Email: email, Password: password}, &tok))
	require.Equal(e.t, "Bearer", tok.TokenType)
	return tok.AccessToken
}

// member invites someone with a role (and scope), accepts, and logs them in.
func (e *env) member(adminTok, org, email string, role store.Role, scope map[string]string) string {
	e.t.Helper()
	var inv inviteResponse
	require.Equal(e.t, http.StatusCreated, e.do("POST", "/api/v1/users/invitations", adminTok, inviteRequest{Email: email, Role: role, Scope: scope}, &inv))
	u, err := url.Parse(inv.Link)
	require.NoError(e.t, err)
	token, ok := strings.CutPrefix(u.Fragment, "invite=")
	require.True(e.t, ok, "invite link %q", inv.Link)
	require.Equal(e.t, http.StatusCreated, e.do("POST", "/api/v1/invitations/accept", "", acceptRequest{Token: token, Password: ownerPassword}, nil))
	return e.login(org, email, ownerPassword)
}

// TestRoutesDocumented: every route this package mounts is in the OpenAPI document (the
// relay's test checks the whole /api/v1 both ways, with the relay's own routes).
func TestRoutesDocumented(t *testing.T) {
	documented := Documented()
	param := regexp.MustCompile(`:([a-z]+)`)
	a := &API{}
	for _, r := range a.Routes() {
		assert.Contains(t, documented, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}

	// And what is mounted answers (not 404/405) at the documented path.
	e := newEnv(t)
	for _, r := range a.Routes() {
		path := "/api/v1" + strings.ReplaceAll(r.Path, ":id", store.NewID())
		req := httptest.NewRequest(r.Method, path, nil)
		resp, err := e.app.Test(req, 10_000)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.NotContains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, resp.StatusCode, "%s %s", r.Method, path)
	}
}

func TestConsoleLifecycle(t *testing.T) {
	e := newEnv(t)
	org, tok := e.owner("acme")

	var me meView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/me", tok, nil, &me))
	assert.Equal(t, "acme", me.OrgSlug)
	assert.Equal(t, "owner", me.Role)

	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack-1", Labels: map[string]string{"site": "fra1"}}, &d))
	assert.False(t, d.Online)
	var et enrollmentTokenView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/enrollment-tokens", tok, nil, &et))
	assert.True(t, strings.HasPrefix(et.Token, "kvme_"))

	var started startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", tok, nil, &started))
	assert.Equal(t, store.SessionRequested, started.Session.Current)
	assert.Equal(t, store.SessionActive, started.Session.Desired)
	assert.True(t, strings.HasPrefix(started.ConsoleURL, "https://relay.example/console/#code="))
	assert.True(t, started.ConsoleURLExpiresAt.After(time.Now()))

	var got sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+started.Session.ID, tok, nil, &got))
	assert.Equal(t, started.Session.ID, got.ID)
	var stopped stoppedView
	require.Equal(t, http.StatusOK, e.do("DELETE", "/api/v1/devices/"+d.ID+"/sessions", tok, nil, &stopped))
	assert.Equal(t, 1, stopped.Stopped)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+started.Session.ID, tok, nil, &got))
	assert.Equal(t, store.SessionStopped, got.Current)
	assert.Equal(t, store.SessionStopped, got.Desired)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/devices/"+d.ID, tok, nil, nil))
	assert.Equal(t, []string{d.ID}, e.cut.cut, "revoking cuts the agent")
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+d.ID, tok, nil, &d))
	require.NotNil(t, d.RevokedAt)
	assert.Equal(t, http.StatusConflict, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", tok, nil, nil), "no console on a revoked device")
	assert.Equal(t, http.StatusConflict, e.do("POST", "/api/v1/devices/"+d.ID+"/enrollment-tokens", tok, nil, nil))

	var list auditList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit?limit=100", tok, nil, &list))
	var actions []store.AuditAction
	for _, en := range list.Entries {
		actions = append(actions, en.Action)
	}
	for _, want := range []store.AuditAction{store.AuditLogin, store.AuditDeviceCreate, store.AuditConsoleStart, store.AuditConsoleStop, store.AuditDeviceRevoke} {
		assert.Contains(t, actions, want)
	}
	var v verifyView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify", tok, nil, &v))
	assert.True(t, v.OK)
	assert.Equal(t, int64(len(list.Entries)), v.Entries)

	// Tamper with one row behind the API's back: verify names it.
	raw, err := sqlite.RawDB(e.dataDir)
	require.NoError(t, err)
	_, err = raw.Exec(`UPDATE audit_entries SET body = replace(body, 'rack-1', 'rack-X') WHERE org_id = ? AND seq = 3`, org.ID)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify", tok, nil, &v))
	assert.False(t, v.OK)
	assert.Equal(t, int64(3), v.BrokenSeq)
}

// TestRolesAndScopes is the role matrix and label scopes at the API (SECURITY.md item 4 for
// the control plane): each principal gets 403 for what its role forbids and 404 for devices
// outside its scope or its organization.
func TestRolesAndScopes(t *testing.T) {
	e := newEnv(t)
	_, admin := e.owner("acme")
	_, other := e.owner("globex")
	var fra, ams, foreign deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "fra-1", Labels: map[string]string{"site": "fra1"}}, &fra))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "ams-1", Labels: map[string]string{"site": "ams1"}}, &ams))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", other, deviceRequest{Name: "theirs"}, &foreign))

	operator := e.member(admin, "acme", "op@acme.example", store.RoleOperator, map[string]string{"site": "fra1"})
	viewer := e.member(admin, "acme", "view@acme.example", store.RoleViewer, nil)
	auditor := e.member(admin, "acme", "audit@acme.example", store.RoleAuditor, nil)

	var list devicesList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices", operator, nil, &list))
	require.Len(t, list.Devices, 1, "a scoped operator sees only its site")
	assert.Equal(t, fra.ID, list.Devices[0].ID)

	cases := []struct {
		name, who, method, path string
		want                    int
	}{
		{"operator starts a console in scope", operator, "POST", "/api/v1/devices/" + fra.ID + "/sessions", http.StatusCreated},
		{"operator outside scope", operator, "POST", "/api/v1/devices/" + ams.ID + "/sessions", http.StatusNotFound},
		{"operator reads device outside scope", operator, "GET", "/api/v1/devices/" + ams.ID, http.StatusNotFound},
		{"operator creates a device", operator, "POST", "/api/v1/devices", http.StatusForbidden},
		{"operator reads audit", operator, "GET", "/api/v1/audit", http.StatusForbidden},
		{"viewer starts a console (to watch)", viewer, "POST", "/api/v1/devices/" + fra.ID + "/sessions", http.StatusCreated},
		{"auditor starts a console", auditor, "POST", "/api/v1/devices/" + fra.ID + "/sessions", http.StatusForbidden},
		{"viewer lists devices", viewer, "GET", "/api/v1/devices", http.StatusOK},
		{"viewer lists users", viewer, "GET", "/api/v1/users", http.StatusForbidden},
		{"auditor reads audit", auditor, "GET", "/api/v1/audit/verify", http.StatusOK},
		{"auditor lists devices", auditor, "GET", "/api/v1/devices", http.StatusForbidden},
		{"admin reads other org's device", admin, "GET", "/api/v1/devices/" + foreign.ID, http.StatusNotFound},
		{"admin revokes other org's device", admin, "DELETE", "/api/v1/devices/" + foreign.ID, http.StatusNotFound},
		{"admin starts console on other org's device", admin, "POST", "/api/v1/devices/" + foreign.ID + "/sessions", http.StatusNotFound},
		{"no bearer", "", "GET", "/api/v1/devices", http.StatusUnauthorized},
		{"garbage bearer", "abc.def.ghi", "GET", "/api/v1/devices", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in any
			if tc.method == "POST" && strings.HasSuffix(tc.path, "/devices") {
				in = deviceRequest{Name: "x"}
			}
			assert.Equal(t, tc.want, e.do(tc.method, tc.path, tc.who, in, nil))
		})
	}

	// A session of the operator can be stopped by it and by an admin, not by another operator.
	var s startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+fra.ID+"/sessions", operator, nil, &s))
	op2 := e.member(admin, "acme", "op2@acme.example", store.RoleOperator, nil)
	assert.Equal(t, http.StatusForbidden, e.do("DELETE", "/api/v1/sessions/"+s.Session.ID, op2, nil, nil))
	assert.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/sessions/"+s.Session.ID, admin, nil, nil))
	assert.Equal(t, []string(nil), e.cut.cut)
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	_, tok := e.owner("acme")
	cases := []struct {
		name, method, path string
		in                 any
		want               int
	}{
		{"login without fields", "POST", "/api/v1/auth/login", map[string]string{}, http.StatusBadRequest},
		{"wrong password", "POST", "/api/v1/auth/login", loginRequest{Org: "acme", Email: "owner@acme.example", Password: "wrong password!!"}, http.StatusUnauthorized},
		{"unknown org", "POST", "/api/v1/auth/login", loginRequest{Org: "nope", Email: "owner@acme.example", Password: ownerPassword}, http.StatusUnauthorized},
		{"device without name", "POST", "/api/v1/devices", deviceRequest{}, http.StatusBadRequest},
		{"device name too long", "POST", "/api/v1/devices", deviceRequest{Name: strings.Repeat("x", 129)}, http.StatusBadRequest},
		{"malformed id", "GET", "/api/v1/devices/1;DROP", nil, http.StatusBadRequest},
		{"negative idle timeout", "PATCH", "/api/v1/org/settings", map[string]int{"idle_timeout_s": -1}, http.StatusBadRequest},
		{"bad audit page", "GET", "/api/v1/audit?limit=100000", nil, http.StatusBadRequest},
		{"refresh garbage", "POST", "/api/v1/auth/refresh", refreshRequest{RefreshToken: "garbage"}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bearer := tok
			if strings.HasPrefix(tc.path, "/api/v1/auth/") {
				bearer = ""
			}
			assert.Equal(t, tc.want, e.do(tc.method, tc.path, bearer, tc.in, nil))
		})
	}
	// Settings change is audited and applies.
	var o orgView
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", tok, map[string]int{"idle_timeout_s": 60}, &o))
	assert.Equal(t, int64(60), o.IdleTimeoutS)
	assert.Equal(t, int64(8*3600), o.MaxSessionS, "the other setting is kept")
}
