package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// consoleToken is the console token a redeemed console URL gives (the relay's redeem).
func (e *env) consoleToken(started startedView) string {
	e.t.Helper()
	u, err := url.Parse(started.ConsoleURL)
	require.NoError(e.t, err)
	code, ok := strings.CutPrefix(u.Fragment, "code=")
	require.True(e.t, ok)
	login, err := e.iss.Verify(code, auth.AudienceLogin)
	require.NoError(e.t, err)
	tok, _, err := e.iss.Mint(auth.Claims{Subject: login.Subject, Audience: auth.AudienceConsole, Device: login.Device,
		Session: login.Session, Tenant: login.Tenant, Grant: login.Grant}, 15*time.Minute)
	require.NoError(e.t, err)
	return tok
}

func tokenOfLink(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	for _, p := range []string{"share=", "guest="} {
		if tok, ok := strings.CutPrefix(u.Fragment, p); ok {
			return tok
		}
	}
	t.Fatalf("no token in %s", link)
	return ""
}

// TestShareRoutes: share links through the API and through a console's own token, joined by
// a member and a guest, revoked; with the errors each refusal answers.
func TestShareRoutes(t *testing.T) {
	e := newEnv(t)
	_, owner := e.owner("acme")
	_, stranger := e.owner("globex")
	operator := e.member(owner, "acme", "op@acme.example", store.RoleOperator, nil)
	viewer := e.member(owner, "acme", "vera@acme.example", store.RoleViewer, nil)
	auditor := e.member(owner, "acme", "audrey@acme.example", store.RoleAuditor, nil)
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", owner, deviceRequest{Name: "rack-1"}, &d))
	var opStarted, viewStarted startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", operator, nil, &opStarted))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", viewer, nil, &viewStarted))
	opConsole, viewConsole := e.consoleToken(opStarted), e.consoleToken(viewStarted)
	sid := opStarted.Session.ID

	// A member link with the API bearer.
	var member shareView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/sessions/"+sid+"/shares", operator, shareRequest{Kind: store.ShareMember}, &member))
	assert.Equal(t, store.ShareMember, member.Kind)
	assert.Equal(t, sid, member.Session)
	assert.Equal(t, d.ID, member.Device)
	assert.Equal(t, "rack-1", member.DeviceName)
	assert.True(t, strings.HasPrefix(member.Link, "https://relay.example/console/#share="), member.Link)
	assert.Nil(t, member.ExpiresAt)
	assert.Equal(t, "op@acme.example", member.CreatedByName)

	// The raw answer has expires_at null for a member link, as the contract says.
	raw := map[string]any{}
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/sessions/"+sid+"/shares", operator, shareRequest{Kind: store.ShareMember}, &raw))
	v, present := raw["expires_at"]
	assert.True(t, present)
	assert.Nil(t, v)

	// Guest links: off by default (403 with the sentence), on once an owner says so.
	var apiErr Error
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/console/shares", opConsole, shareRequest{Kind: store.ShareGuest}, &apiErr))
	assert.Equal(t, "Guest links are off for this organization; an owner can turn them on in the organization's settings.", apiErr.Message)
	on := true
	require.Equal(t, http.StatusForbidden, e.do("PATCH", "/api/v1/org/settings", operator, settingsRequest{GuestLinks: &on}, nil))
	var o orgView
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", owner, settingsRequest{GuestLinks: &on}, &o))
	assert.True(t, o.GuestLinks)
	var guest shareView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/console/shares", opConsole, shareRequest{Kind: store.ShareGuest, TTLSeconds: 900}, &guest))
	assert.True(t, strings.HasPrefix(guest.Link, "https://relay.example/console/#guest="), guest.Link)
	require.NotNil(t, guest.ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(15*time.Minute), *guest.ExpiresAt, time.Minute)

	refusals := []struct {
		name, method, path, bearer string
		in                         any
		want                       int
	}{
		{"a viewer's console cannot share", "POST", "/api/v1/console/shares", viewConsole, shareRequest{Kind: store.ShareMember}, http.StatusForbidden},
		{"a viewer's bearer cannot share the operator's console", "POST", "/api/v1/sessions/" + sid + "/shares", viewer, shareRequest{Kind: store.ShareMember}, http.StatusForbidden},
		{"an API bearer is not a console token", "POST", "/api/v1/console/shares", operator, shareRequest{Kind: store.ShareMember}, http.StatusUnauthorized},
		{"no console token", "GET", "/api/v1/console/shares", "", nil, http.StatusUnauthorized},
		{"a console token is not an API bearer", "POST", "/api/v1/sessions/" + sid + "/shares", opConsole, shareRequest{Kind: store.ShareMember}, http.StatusUnauthorized},
		{"guest link too short", "POST", "/api/v1/console/shares", opConsole, shareRequest{Kind: store.ShareGuest, TTLSeconds: 60}, http.StatusBadRequest},
		{"guest link too long", "POST", "/api/v1/console/shares", opConsole, shareRequest{Kind: store.ShareGuest, TTLSeconds: 90000}, http.StatusBadRequest},
		{"unknown kind", "POST", "/api/v1/console/shares", opConsole, map[string]string{"kind": "public"}, http.StatusBadRequest},
		{"another organization's session", "POST", "/api/v1/sessions/" + sid + "/shares", stranger, shareRequest{Kind: store.ShareMember}, http.StatusNotFound},
		{"another organization's session's shares", "GET", "/api/v1/sessions/" + sid + "/shares", stranger, nil, http.StatusNotFound},
		{"a viewer's console cannot revoke another session's share", "DELETE", "/api/v1/console/shares/" + member.ID, viewConsole, nil, http.StatusNotFound},
		{"a stranger cannot revoke", "DELETE", "/api/v1/sessions/" + sid + "/shares/" + member.ID, stranger, nil, http.StatusNotFound},
		{"the share is not under another session", "DELETE", "/api/v1/sessions/" + viewStarted.Session.ID + "/shares/" + member.ID, owner, nil, http.StatusNotFound},
		{"a member of another organization cannot join", "POST", "/api/v1/shares/join", stranger, joinRequest{Token: tokenOfLink(t, member.Link)}, http.StatusNotFound},
		{"a guest link is not joined as a member", "POST", "/api/v1/shares/join", viewer, joinRequest{Token: tokenOfLink(t, guest.Link)}, http.StatusNotFound},
		{"join without a bearer", "POST", "/api/v1/shares/join", "", joinRequest{Token: tokenOfLink(t, member.Link)}, http.StatusUnauthorized},
		{"a guest without a name", "POST", "/api/v1/guest/join", "", joinRequest{Token: tokenOfLink(t, guest.Link), Name: " "}, http.StatusBadRequest},
		{"a guest name with a control character", "POST", "/api/v1/guest/join", "", joinRequest{Token: tokenOfLink(t, guest.Link), Name: "Jane\x07"}, http.StatusBadRequest},
		{"a member link is not joined as a guest", "POST", "/api/v1/guest/join", "", joinRequest{Token: tokenOfLink(t, member.Link), Name: "Jane"}, http.StatusNotFound},
		{"an unknown token", "POST", "/api/v1/guest/join", "", joinRequest{Token: "kvms_" + strings.Repeat("C", 43), Name: "Jane"}, http.StatusNotFound},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, e.do(tc.method, tc.path, tc.bearer, tc.in, nil))
		})
	}

	// A member joins (an auditor too): a one-time console link of their own, view only.
	var joined memberJoinedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/shares/join", auditor, joinRequest{Token: tokenOfLink(t, member.Link)}, &joined))
	assert.True(t, strings.HasPrefix(joined.ConsoleURL, "https://relay.example/console/#code="), joined.ConsoleURL)
	assert.Equal(t, d.ID, joined.Device)
	assert.Equal(t, "rack-1", joined.DeviceName)
	assert.Equal(t, "op@acme.example", joined.SharedBy)
	assert.Equal(t, wire.GrantView, joined.Grant)

	// A guest joins: a console token, as a redeemed link gives.
	var g guestJoinedView
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/guest/join", "", joinRequest{Token: tokenOfLink(t, guest.Link), Name: " Jane "}, &g))
	claims, err := e.iss.Verify(g.Token, auth.AudienceConsole)
	require.NoError(t, err)
	assert.Equal(t, wire.GrantView, claims.Grant)
	assert.Equal(t, "guest:"+guest.ID, claims.Subject)
	assert.Equal(t, "Jane (guest)", g.PrincipalName)
	assert.Equal(t, "rack-1", g.DeviceName)
	assert.Equal(t, "op@acme.example", g.SharedBy)
	assert.Equal(t, g.Session, claims.Session)

	// Session views show the grant, the share and the guest's name.
	var gs sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+g.Session, owner, nil, &gs))
	assert.Equal(t, "view", gs.Grant)
	assert.Equal(t, guest.ID, gs.ShareID)
	assert.Equal(t, "Jane (guest)", gs.PrincipalName)
	var ops sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+sid, owner, nil, &ops))
	assert.Equal(t, "control", ops.Grant)
	assert.Empty(t, ops.ShareID)

	// Lists: by API bearer (the session's person, or an admin) and by the console's token.
	var list sharesList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/console/shares", opConsole, nil, &list))
	require.Len(t, list.Shares, 3)
	assert.Equal(t, guest.ID, list.Shares[0].ID, "newest first")
	var rawList struct {
		Shares []map[string]any `json:"shares"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/console/shares", opConsole, nil, &rawList))
	require.NotEmpty(t, rawList.Shares)
	for _, k := range []string{"id", "kind", "session", "device", "device_name", "expires_at", "created_by", "created_by_name", "created_at", "joined", "revoked_at", "live"} {
		assert.Contains(t, rawList.Shares[0], k, "a listed share always carries %s", k)
	}
	assert.NotContains(t, rawList.Shares[0], "link")
	assert.Equal(t, 1, list.Shares[0].Joined)
	assert.True(t, list.Shares[0].Live)
	assert.Nil(t, list.Shares[0].RevokedAt)
	assert.Empty(t, list.Shares[0].Link, "the token is shown once only")
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+sid+"/shares", owner, nil, &list))
	require.Len(t, list.Shares, 3)
	require.Equal(t, http.StatusForbidden, e.do("GET", "/api/v1/sessions/"+sid+"/shares", viewer, nil, nil))

	// Turning guest links off ends the guest's console.
	off := false
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/org/settings", owner, settingsRequest{GuestLinks: &off}, &o))
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+g.Session, owner, nil, &gs))
	assert.Equal(t, store.SessionStopped, gs.Current)
	assert.Equal(t, "guest links were turned off", gs.Reason)
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/guest/join", "", joinRequest{Token: tokenOfLink(t, guest.Link), Name: "Joe"}, &apiErr))
	assert.Contains(t, apiErr.Message, "Guest links are turned off")

	// Revoking (by the console, twice) answers 204; the link is then gone (410).
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/console/shares/"+member.ID, opConsole, nil, nil))
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/sessions/"+sid+"/shares/"+member.ID, operator, nil, nil))
	require.Equal(t, http.StatusGone, e.do("POST", "/api/v1/shares/join", viewer, joinRequest{Token: tokenOfLink(t, member.Link)}, &apiErr))
	assert.Equal(t, CodeGone, apiErr.Code)
	assert.Contains(t, apiErr.Message, "Ask op@acme.example for a new link")
	var js sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+joined.Session, owner, nil, &js))
	assert.Equal(t, store.SessionStopped, js.Current)
	assert.Equal(t, "the share link was revoked", js.Reason)

	// A console whose session ended answers 401 on its routes.
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/sessions/"+sid, operator, nil, nil))
	require.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/console/shares", opConsole, nil, nil))
	require.Equal(t, http.StatusConflict, e.do("POST", "/api/v1/sessions/"+sid+"/shares", operator, shareRequest{Kind: store.ShareMember}, nil))

	// The chain holds every step.
	var audit auditList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit?limit=500", owner, nil, &audit))
	var actions []store.AuditAction
	for _, en := range audit.Entries {
		actions = append(actions, en.Action)
	}
	for _, want := range []store.AuditAction{store.AuditShareCreate, store.AuditShareJoin, store.AuditShareRevoke, store.AuditSettingsChange} {
		assert.Contains(t, actions, want)
	}
	var consoleRefused bool
	for _, en := range audit.Entries {
		if en.Action == store.AuditAccessDenied && en.Details["session"] == viewStarted.Session.ID {
			consoleRefused = true
			assert.Equal(t, "api:POST /api/v1/console/shares", en.Target)
			assert.Equal(t, "view", en.Details["grant"])
		}
	}
	assert.True(t, consoleRefused, "the watching console's attempt to share is audited")
}
