package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// userID finds a user's id by email through the API.
func (e *env) userID(adminTok, email string) string {
	e.t.Helper()
	var list usersList
	require.Equal(e.t, http.StatusOK, e.do("GET", "/api/v1/users", adminTok, nil, &list))
	for _, u := range list.Users {
		if u.Email == email {
			return u.ID
		}
	}
	e.t.Fatalf("no user %s", email)
	return ""
}

func TestChangePasswordAPI(t *testing.T) {
	e := newEnv(t)
	_, tok := e.owner("acme")
	other := e.login("acme", "owner@acme.example", ownerPassword)
	const next = "another fine passphrase"

	cases := []struct {
		name string
		in   any
		want int
	}{
		{"no body fields", map[string]string{}, http.StatusBadRequest},
		{"wrong current", changePasswordRequest{CurrentPassword: "not the password", NewPassword: next}, http.StatusForbidden},
		{"too short", changePasswordRequest{CurrentPassword: ownerPassword, NewPassword: "short"}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var apiErr Error
			assert.Equal(t, tc.want, e.do("POST", "/api/v1/me/password", tok, tc.in, &apiErr))
			assert.NotEmpty(t, apiErr.Message)
		})
	}

	var fresh tokensView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/me/password", tok, changePasswordRequest{CurrentPassword: ownerPassword, NewPassword: next}, &fresh))
	require.NotEmpty(t, fresh.AccessToken)
	require.NotEmpty(t, fresh.RefreshToken)
	assert.Equal(t, http.StatusOK, e.do("GET", "/api/v1/me", fresh.AccessToken, nil, nil), "the new pair works at once")
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/me", tok, nil, nil), "the caller's old token ended")
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/me", other, nil, nil), "other sessions ended")
	e.login("acme", "owner@acme.example", next)

	// API keys have no password.
	var key createAPIKeyResponse
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/api-keys", fresh.AccessToken, createAPIKeyRequest{Name: "ci", Role: store.RoleAdmin}, &key))
	assert.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/me/password", key.Key, changePasswordRequest{CurrentPassword: next, NewPassword: ownerPassword}, nil))
}

// TestChangePasswordCookieMode: in cookie mode the new refresh token goes into the cookie of
// the auth routes, as a login's does, and not into the body.
func TestChangePasswordCookieMode(t *testing.T) {
	e := newEnv(t)
	_, tok := e.owner("acme")
	req := httptest.NewRequest("POST", "/api/v1/me/password", strings.NewReader(`{"current_password":"`+ownerPassword+`","new_password":"another fine passphrase"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(WebClientHeader, WebClientValue)
	resp, err := e.app.Test(req, 10_000)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == RefreshCookie {
			ck = c
		}
	}
	require.NotNil(t, ck)
	assert.Equal(t, "/api/v1/auth", ck.Path)
	assert.True(t, ck.HttpOnly)
	assert.True(t, strings.HasPrefix(ck.Value, "kvmr_"))
	var body map[string]any
	require.NoError(t, jsonDecode(resp, &body))
	assert.NotContains(t, body, "refresh_token")
	assert.NotEmpty(t, body["access_token"])
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// resetTokenOf takes the token out of a reset link.
func resetTokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, "/console/", u.Path)
	tok, ok := strings.CutPrefix(u.Fragment, "reset=")
	require.True(t, ok, "reset link %q", link)
	return tok
}

func TestPasswordResetAPI(t *testing.T) {
	e := newEnv(t)
	_, admin := e.owner("acme")
	op := e.member(admin, "acme", "op@acme.example", store.RoleOperator, nil)
	opID := e.userID(admin, "op@acme.example")

	var r passwordResetView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/users/"+opID+"/password-reset", admin, nil, &r))
	assert.True(t, strings.HasPrefix(r.Link, "https://relay.example/console/#reset=kvmp_"), r.Link)
	assert.Equal(t, opID, r.UserID)
	assert.WithinDuration(t, time.Now().Add(time.Hour), r.ExpiresAt, time.Minute)
	tok := resetTokenOf(t, r.Link)

	assert.Equal(t, http.StatusBadRequest, e.do("POST", "/api/v1/password-resets/accept", "", resetRequest{}, nil))
	assert.Equal(t, http.StatusBadRequest, e.do("POST", "/api/v1/password-resets/accept", "", resetRequest{Token: tok, Password: "short"}, nil))
	var accepted acceptedView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/password-resets/accept", "", resetRequest{Token: tok, Password: "operators new passphrase"}, &accepted))
	assert.Equal(t, opID, accepted.ID)
	assert.Equal(t, "acme", accepted.OrgSlug)
	assert.Equal(t, http.StatusUnauthorized, e.do("POST", "/api/v1/password-resets/accept", "", resetRequest{Token: tok, Password: "operators new passphrase"}, nil), "single use")
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/me", op, nil, nil), "the old session ended")
	e.login("acme", "op@acme.example", "operators new passphrase")

	var list auditList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit?limit=1000", admin, nil, &list))
	var events []string
	for _, en := range list.Entries {
		if en.Action == store.AuditPasswordReset {
			events = append(events, en.Details["event"])
		}
	}
	assert.Equal(t, []string{"issued", "used"}, events)
}

func TestDisableUserStopsConsoles(t *testing.T) {
	e := newEnv(t)
	_, admin := e.owner("acme")
	op := e.member(admin, "acme", "op@acme.example", store.RoleOperator, nil)
	opID := e.userID(admin, "op@acme.example")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "rack-1"}, &d))
	var mine, theirs startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", op, nil, &mine))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", admin, nil, &theirs))

	var out disabledView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/users/"+opID+"/disable", admin, nil, &out))
	assert.True(t, out.User.Disabled)
	assert.Equal(t, 1, out.SessionsStopped)
	var s sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+mine.Session.ID, admin, nil, &s))
	assert.Equal(t, store.SessionStopped, s.Current, "the disabled user's console ended")
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+theirs.Session.ID, admin, nil, &s))
	assert.NotEqual(t, store.SessionStopped, s.Current, "nobody else's")
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/me", op, nil, nil))
	assert.Equal(t, http.StatusUnauthorized, e.do("POST", "/api/v1/auth/login", "", loginRequest{Org: "acme", Email: "op@acme.example", Password: ownerPassword}, nil))

	var u userView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/users/"+opID+"/enable", admin, nil, &u))
	assert.False(t, u.Disabled)
	e.login("acme", "op@acme.example", ownerPassword)

	ownerID := e.userID(admin, "owner@acme.example")
	var apiErr Error
	assert.Equal(t, http.StatusBadRequest, e.do("POST", "/api/v1/users/"+ownerID+"/disable", admin, nil, &apiErr), "not oneself")
	assert.Contains(t, apiErr.Message, "yourself")
}

func TestResetMFAAPI(t *testing.T) {
	e := newEnv(t)
	_, admin := e.owner("acme")
	viewer := e.member(admin, "acme", "view@acme.example", store.RoleViewer, nil)
	viewerID := e.userID(admin, "view@acme.example")
	var begin totpBegin
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/me/totp", viewer, nil, &begin))
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/users/"+viewerID+"/mfa", admin, nil, nil))
	var list auditList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit?limit=1000", admin, nil, &list))
	last := list.Entries[len(list.Entries)-1]
	assert.Equal(t, store.AuditMFAChange, last.Action)
	assert.Equal(t, "totp_reset_by_admin", last.Details["change"])
	assert.Equal(t, "user:"+viewerID, last.Target)
	assert.Equal(t, "user:"+e.userID(admin, "owner@acme.example"), last.Actor)
}

// TestAccountRoutesRoles is the role matrix of the account routes: who may, who may not
// (403), and another organization's user (404).
func TestAccountRoutesRoles(t *testing.T) {
	e := newEnv(t)
	_, owner := e.owner("acme")
	_, foreignOwner := e.owner("globex")
	foreignID := e.userID(foreignOwner, "owner@globex.example")
	admin := e.member(owner, "acme", "admin@acme.example", store.RoleAdmin, nil)
	op := e.member(owner, "acme", "op@acme.example", store.RoleOperator, nil)
	viewer := e.member(owner, "acme", "view@acme.example", store.RoleViewer, nil)
	auditor := e.member(owner, "acme", "audit@acme.example", store.RoleAuditor, nil)
	_ = e.member(owner, "acme", "target@acme.example", store.RoleViewer, nil)
	targetID := e.userID(owner, "target@acme.example")
	ownerID := e.userID(owner, "owner@acme.example")

	routes := []struct{ method, suffix string }{
		{"POST", "/password-reset"}, {"POST", "/disable"}, {"POST", "/enable"}, {"DELETE", "/mfa"},
	}
	for _, rt := range routes {
		cases := []struct {
			name, who, user string
			want            []int
		}{
			{"operator", op, targetID, []int{http.StatusForbidden}},
			{"viewer", viewer, targetID, []int{http.StatusForbidden}},
			{"auditor", auditor, targetID, []int{http.StatusForbidden}},
			{"admin on an owner", admin, ownerID, []int{http.StatusForbidden}},
			{"admin on another organization's user", admin, foreignID, []int{http.StatusNotFound}},
			{"owner on another organization's user", owner, foreignID, []int{http.StatusNotFound}},
			{"no bearer", "", targetID, []int{http.StatusUnauthorized}},
			{"admin", admin, targetID, []int{http.StatusOK, http.StatusCreated, http.StatusNoContent}},
		}
		for _, tc := range cases {
			t.Run(rt.method+" "+rt.suffix+" "+tc.name, func(t *testing.T) {
				got := e.do(rt.method, "/api/v1/users/"+tc.user+rt.suffix, tc.who, nil, nil)
				assert.Contains(t, tc.want, got)
			})
		}
		// Leave the target enabled for the next route.
		require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/users/"+targetID+"/enable", owner, nil, nil))
	}
	assert.Equal(t, http.StatusUnauthorized, e.do("POST", "/api/v1/me/password", "", changePasswordRequest{CurrentPassword: "x", NewPassword: "y"}, nil))
}

func TestAuditVerifyWitness(t *testing.T) {
	e := newEnv(t)
	_, tok := e.owner("acme")
	var v verifyView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify", tok, nil, &v))
	require.True(t, v.OK)
	assert.Equal(t, witnessNone, v.Witness)
	require.Positive(t, v.HeadSeq)
	require.Len(t, v.HeadHash, 64)
	head := v

	// More entries, then verify against the head seen before.
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack-1"}, nil))
	q := "?witness_seq=" + strconv.FormatInt(head.HeadSeq, 10) + "&witness_hash=" + head.HeadHash
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify"+q, tok, nil, &v))
	assert.True(t, v.OK)
	assert.Equal(t, witnessOK, v.Witness)
	assert.Greater(t, v.HeadSeq, head.HeadSeq)

	// A witness the chain does not hold: the chain was rewritten (or it is not this chain).
	bad := "?witness_seq=" + strconv.FormatInt(head.HeadSeq, 10) + "&witness_hash=" + strings.Repeat("ab", 32)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify"+bad, tok, nil, &v))
	assert.False(t, v.OK)
	assert.Equal(t, witnessMissing, v.Witness)
	assert.Equal(t, head.HeadSeq, v.BrokenSeq)
	beyond := "?witness_seq=100000&witness_hash=" + head.HeadHash
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify"+beyond, tok, nil, &v))
	assert.False(t, v.OK, "the chain is shorter than what the reader saw")
	assert.Equal(t, witnessMissing, v.Witness)

	for _, q := range []string{"?witness_seq=1", "?witness_hash=" + head.HeadHash, "?witness_seq=0&witness_hash=" + head.HeadHash, "?witness_seq=1&witness_hash=xyz"} {
		var apiErr Error
		assert.Equal(t, http.StatusBadRequest, e.do("GET", "/api/v1/audit/verify"+q, tok, nil, &apiErr), q)
		assert.Contains(t, apiErr.Message, "witness_seq")
	}
}

// gatedStore holds every audit page after the first until release is closed, and counts them.
type gatedStore struct {
	store.Store
	release chan struct{}
	pages   atomic.Int32
}

func (g *gatedStore) Read(ctx context.Context, orgID string, fn func(store.Tx) error) error {
	return g.Store.Read(ctx, orgID, func(tx store.Tx) error { return fn(gatedTx{Tx: tx, g: g}) })
}

type gatedTx struct {
	store.Tx
	g *gatedStore
}

func (t gatedTx) Audit(ctx context.Context, afterSeq int64, limit int) ([]store.AuditEntry, error) {
	if afterSeq > 0 {
		select {
		case <-t.g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
	t.g.pages.Add(1)
	return t.Tx.Audit(ctx, afterSeq, limit)
}

// TestExportStreamsPages: the export's first page reaches the client while the next one has
// not been read yet (it used to read the whole chain before writing a byte).
func TestExportStreamsPages(t *testing.T) {
	e := newEnv(t)
	org, tok := e.owner("acme")
	ctx := context.Background()
	for i := range maxAuditPage + 5 {
		_, err := e.st.AppendAudit(ctx, org.ID, store.AuditRecord{Time: time.Now(), Actor: "system", Action: store.AuditSettingsChange, Target: "n:" + strconv.Itoa(i)})
		require.NoError(t, err)
	}
	g := &gatedStore{Store: e.st, release: make(chan struct{})}
	a, err := New(Config{Store: g, Accounts: e.acc, Sessions: e.mgr, Devices: e.cut})
	require.NoError(t, err)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	a.Mount(app.Group("/api/v1"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })

	req, err := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/v1/audit/export", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	lines := make(chan string, 2*maxAuditPage)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case first := <-lines:
		assert.Contains(t, first, `"seq":1`)
		assert.Equal(t, int32(1), g.pages.Load(), "the first page arrived before the second was read")
	case <-time.After(5 * time.Second):
		t.Fatal("no line of the export arrived while the second page was held back: the export is not streamed")
	}
	close(g.release)
	n := 1
	for range lines {
		n++
	}
	assert.GreaterOrEqual(t, n, maxAuditPage+5)
	assert.GreaterOrEqual(t, g.pages.Load(), int32(3), "page by page, up to the empty one")
}

// TestRefreshGraceAPI: two tabs of one browser refresh with the same cookie at once; both get
// the same new pair instead of the second revoking the session.
func TestRefreshGraceAPI(t *testing.T) {
	e := newEnvWith(t, func(*accounts.Config) {})
	e.owner("acme")
	login := e.web("/api/v1/auth/login", true, "", loginRequest{Org: "acme", Email: "owner@acme.example", Password: ownerPassword}, false)
	require.Equal(t, http.StatusOK, login.status)
	tab1 := e.web("/api/v1/auth/refresh", true, login.cookie.Value, nil, false)
	tab2 := e.web("/api/v1/auth/refresh", true, login.cookie.Value, nil, false)
	require.Equal(t, http.StatusOK, tab1.status)
	require.Equal(t, http.StatusOK, tab2.status, "%v", tab2.body)
	assert.Equal(t, tab1.cookie.Value, tab2.cookie.Value)
	assert.Equal(t, tab1.body["access_token"], tab2.body["access_token"])
	assert.Equal(t, http.StatusOK, e.web("/api/v1/auth/refresh", true, tab2.cookie.Value, nil, false).status, "the session lives on")
}

type failingMailer struct{}

func (failingMailer) Send(context.Context, string, string, string) error { return assert.AnError }

// TestPasswordResetMailFailure: when mailing fails, the admin gets the link (the reset stands).
func TestPasswordResetMailFailure(t *testing.T) {
	e := newEnvWith(t, func(c *accounts.Config) { c.Mailer = failingMailer{} })
	_, owner := e.owner("acme")
	require.NoError(t, e.st.Write(context.Background(), e.orgOf(owner), func(tx store.Tx) error {
		_, err := tx.CreateUser(context.Background(), store.User{Email: "op@acme.example", PasswordHash: "x", Role: store.RoleOperator, CreatedAt: time.Now()})
		return err
	}))
	var r passwordResetView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/users/"+e.userID(owner, "op@acme.example")+"/password-reset", owner, nil, &r))
	assert.NotEmpty(t, r.MailError)
	resetTokenOf(t, r.Link)
}

// orgOf is the organization of an access token's principal.
func (e *env) orgOf(tok string) string {
	e.t.Helper()
	var me meView
	require.Equal(e.t, http.StatusOK, e.do("GET", "/api/v1/me", tok, nil, &me))
	return me.OrgID
}
