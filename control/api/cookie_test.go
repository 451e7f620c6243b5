package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// webAnswer is one answer to a cookie-mode request: status, raw body and the refresh cookie it
// set (nil when it set none).
type webAnswer struct {
	status int
	body   map[string]any
	cookie *http.Cookie
}

// web sends a request as the dashboard would: the client header (when header is set), the
// refresh cookie (when not empty), a JSON body (when in is not nil), over TLS when tls is set.
func (e *env) web(path string, header bool, cookie string, in any, tls bool) webAnswer {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(e.t, err)
		body = bytes.NewReader(b)
	}
	req := httptest.NewRequest("POST", path, body)
	if tls {
		// As a TLS-terminating proxy in front of the relay says it.
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if header {
		req.Header.Set(WebClientHeader, WebClientValue)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: RefreshCookie, Value: cookie})
	}
	resp, err := e.app.Test(req, 10_000)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	a := webAnswer{status: resp.StatusCode}
	if len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal(raw, &a.body), "%s: %s", path, raw)
	}
	for _, c := range resp.Cookies() {
		if c.Name == RefreshCookie {
			a.cookie = c
		}
	}
	return a
}

// TestRefreshCookie: in cookie mode (X-Kvmrelay-Client: web) the refresh token never appears in
// a body a script can read — it is an HttpOnly, SameSite=Strict cookie scoped to the auth routes;
// refresh and logout take it from the cookie only together with the header; a reused token
// still revokes the whole family; and a client without the header sees the API unchanged.
func TestRefreshCookie(t *testing.T) {
	e := newEnv(t)
	e.owner("acme")
	creds := loginRequest{Org: "acme", Email: "owner@acme.example", Password: ownerPassword}

	login := e.web("/api/v1/auth/login", true, "", creds, false)
	require.Equal(t, http.StatusOK, login.status)
	assert.NotEmpty(t, login.body["access_token"])
	assert.NotContains(t, login.body, "refresh_token", "the refresh token is not in the JSON a script reads")
	assert.NotEmpty(t, login.body["refresh_expires_at"])
	ck := login.cookie
	require.NotNil(t, ck, "the refresh token is set as a cookie")
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.Equal(t, "/api/v1/auth", ck.Path, "sent to the auth routes only")
	assert.False(t, ck.Secure, "plain http (the demo on loopback) cannot keep a Secure cookie")
	assert.False(t, ck.Expires.IsZero(), "kept across browser restarts until the refresh token expires")
	first := ck.Value
	require.NotEmpty(t, first)

	// Over TLS (here: behind a TLS-terminating proxy) the cookie is Secure.
	tlsLogin := e.web("/api/v1/auth/login", true, "", creds, true)
	require.Equal(t, http.StatusOK, tlsLogin.status)
	require.NotNil(t, tlsLogin.cookie)
	assert.True(t, tlsLogin.cookie.Secure)

	for _, tc := range []struct {
		name   string
		header bool
		cookie string
		in     any
		want   int
	}{
		{"cookie without the header", false, first, nil, http.StatusForbidden},
		{"cookie without the header, empty JSON", false, first, map[string]string{}, http.StatusForbidden},
		{"header without a cookie", true, "", nil, http.StatusBadRequest},
		{"header with a garbage cookie", true, "garbage", nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.web("/api/v1/auth/refresh", tc.header, tc.cookie, tc.in, false)
			assert.Equal(t, tc.want, a.status)
			assert.NotContains(t, a.body, "access_token")
			assert.NotEmpty(t, a.body["message"], "every refusal says what to do")
		})
	}

	// Refresh with cookie and header: a new access token, the rotated refresh token in a new
	// cookie, still not in the body.
	r1 := e.web("/api/v1/auth/refresh", true, first, nil, false)
	require.Equal(t, http.StatusOK, r1.status, "%v", r1.body)
	assert.NotEmpty(t, r1.body["access_token"])
	assert.NotContains(t, r1.body, "refresh_token")
	require.NotNil(t, r1.cookie)
	second := r1.cookie.Value
	assert.NotEqual(t, first, second, "the refresh token rotates")
	var me meView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/me", r1.body["access_token"].(string), nil, &me))
	assert.Equal(t, "owner@acme.example", me.Email)

	// The rotated-away token presented again is a reuse: the family is revoked (the current
	// cookie stops working too) and the dead cookie is cleared.
	reuse := e.web("/api/v1/auth/refresh", true, first, nil, false)
	assert.Equal(t, http.StatusUnauthorized, reuse.status)
	assert.Equal(t, CodeInvalidToken, reuse.body["code"])
	require.NotNil(t, reuse.cookie, "a dead cookie is cleared")
	assert.Empty(t, reuse.cookie.Value)
	assert.Equal(t, http.StatusUnauthorized, e.web("/api/v1/auth/refresh", true, second, nil, false).status,
		"reuse revoked the whole family")

	// A client without the header (kvmctl) gets the refresh token in the body, as before.
	var plain tokensView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/auth/login", "", creds, &plain))
	assert.NotEmpty(t, plain.RefreshToken)
	var rotated tokensView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/auth/refresh", "", refreshRequest{RefreshToken: plain.RefreshToken}, &rotated))
	assert.NotEmpty(t, rotated.RefreshToken)
}

// TestLogoutCookie: logout in cookie mode revokes the cookie's token and clears the cookie; a
// cookie without the header is refused (a cross-site form cannot sign anyone out); with no
// cookie left, logout still answers 204.
func TestLogoutCookie(t *testing.T) {
	e := newEnv(t)
	e.owner("acme")
	login := e.web("/api/v1/auth/login", true, "", loginRequest{Org: "acme", Email: "owner@acme.example", Password: ownerPassword}, false)
	require.Equal(t, http.StatusOK, login.status)
	tok := login.cookie.Value

	assert.Equal(t, http.StatusForbidden, e.web("/api/v1/auth/logout", false, tok, nil, false).status)
	out := e.web("/api/v1/auth/logout", true, tok, nil, false)
	assert.Equal(t, http.StatusNoContent, out.status)
	require.NotNil(t, out.cookie)
	assert.Empty(t, out.cookie.Value, "the cookie is cleared")
	assert.True(t, out.cookie.MaxAge < 0 || out.cookie.Expires.Unix() <= 0, "and expired")
	assert.Equal(t, http.StatusUnauthorized, e.web("/api/v1/auth/refresh", true, tok, nil, false).status, "the token is revoked")
	assert.Equal(t, http.StatusNoContent, e.web("/api/v1/auth/logout", true, "", nil, false).status, "signing out twice is fine")
}

// TestAcceptInviteNamesTheOrganization: accepting an invitation answers with the new user and
// the organization's slug and name, which the dashboard needs to sign the new member in (the
// link carries only the token).
func TestAcceptInviteNamesTheOrganization(t *testing.T) {
	e := newEnv(t)
	org, admin := e.owner("acme")
	var inv inviteResponse
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/users/invitations", admin, inviteRequest{Email: "new@acme.example", Role: "viewer"}, &inv))
	u, err := url.Parse(inv.Link)
	require.NoError(t, err)
	token, ok := strings.CutPrefix(u.Fragment, "invite=")
	require.True(t, ok, "invite link %q", inv.Link)
	var got acceptedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/invitations/accept", "", acceptRequest{Token: token, Password: ownerPassword}, &got))
	assert.Equal(t, "new@acme.example", got.Email)
	assert.Equal(t, "viewer", string(got.Role))
	assert.Equal(t, "acme", got.OrgSlug)
	assert.Equal(t, org.Name, got.OrgName)
	e.login(got.OrgSlug, got.Email, ownerPassword)
}
