package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// call sends a JSON request to the relay with bearer (none when empty) and decodes the JSON
// answer into out; it returns the status.
func call(t *testing.T, r *Relay, method, path, bearer string, in, out any) int {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		require.NoError(t, json.NewEncoder(&body).Encode(in))
	}
	req, err := http.NewRequest(method, r.URL()+path, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out), "%s %s", method, path)
	}
	return resp.StatusCode
}

func fragment(t *testing.T, link, key string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	v, ok := strings.CutPrefix(u.Fragment, key+"=")
	require.True(t, ok, "%s has no %s=", link, key)
	return v
}

// TestShareLinksEndToEnd: through the relay's own HTTP server, a console shares its session
// with its console token; a member signs in and joins (a console link of their own, view
// only); a guest joins with a name (a console token, view only, principal guest:<share>);
// guests are rate-limited per address; revoking cuts the joined console with the reason.
func TestShareLinksEndToEnd(t *testing.T) {
	ctx := context.Background()
	cfg := quietConfig(t)
	cfg.GuestJoinPerMinute = 3
	r := serveRelay(t, cfg)
	const password = "correct horse battery staple"
	_, _, err := r.control.accounts.CreateOwner(ctx, "Acme", "acme", "owner@acme.example", password)
	require.NoError(t, err)
	login := func(email string) string {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		require.Equal(t, 200, call(t, r, "POST", "/api/v1/auth/login", "", map[string]string{"org": "acme", "email": email, "password": password}, &tok))
		return tok.AccessToken
	}
	owner := login("owner@acme.example")
	var inv struct {
		Link string `json:"link"`
	}
	require.Equal(t, 201, call(t, r, "POST", "/api/v1/users/invitations", owner, map[string]string{"email": "audrey@acme.example", "role": "auditor"}, &inv))
	require.Equal(t, 201, call(t, r, "POST", "/api/v1/invitations/accept", "", map[string]string{"token": fragment(t, inv.Link, "invite"), "password": password}, nil))
	auditor := login("audrey@acme.example")

	// The owner opens a console and redeems its link, as the console page does.
	var dev struct {
		ID string `json:"id"`
	}
	require.Equal(t, 201, call(t, r, "POST", "/api/v1/devices", owner, map[string]string{"name": "rack-1"}, &dev))
	var started struct {
		ConsoleURL string `json:"console_url"`
	}
	require.Equal(t, 201, call(t, r, "POST", "/api/v1/devices/"+dev.ID+"/sessions", owner, nil, &started))
	var redeemed struct {
		Token   string     `json:"token"`
		Session string     `json:"session"`
		Grant   wire.Grant `json:"grant"`
	}
	require.Equal(t, 200, call(t, r, "POST", "/api/v1/console/redeem", "", map[string]string{"code": fragment(t, started.ConsoleURL, "code")}, &redeemed))
	console := redeemed.Token

	// The console shares its session with a colleague.
	var share struct {
		ID, Link, Session string
	}
	require.Equal(t, 201, call(t, r, "POST", "/api/v1/console/shares", console, map[string]string{"kind": "member"}, &share))
	assert.Equal(t, redeemed.Session, share.Session)
	assert.True(t, strings.HasPrefix(share.Link, r.URL()+"/console/#share="), share.Link)

	// The auditor signs in and joins: a console link of their own, view only.
	var joined struct {
		ConsoleURL string     `json:"console_url"`
		Session    string     `json:"session"`
		Grant      wire.Grant `json:"grant"`
		SharedBy   string     `json:"shared_by"`
	}
	require.Equal(t, 201, call(t, r, "POST", "/api/v1/shares/join", auditor, map[string]string{"token": fragment(t, share.Link, "share")}, &joined))
	assert.Equal(t, wire.GrantView, joined.Grant)
	assert.Equal(t, "owner@acme.example", joined.SharedBy)
	var member struct {
		Token         string     `json:"token"`
		Session       string     `json:"session"`
		Grant         wire.Grant `json:"grant"`
		PrincipalName string     `json:"principal_name"`
	}
	require.Equal(t, 200, call(t, r, "POST", "/api/v1/console/redeem", "", map[string]string{"code": fragment(t, joined.ConsoleURL, "code")}, &member))
	assert.Equal(t, joined.Session, member.Session)
	assert.Equal(t, wire.GrantView, member.Grant, "an owner's share gives its joiner view only")
	assert.Equal(t, "audrey@acme.example", member.PrincipalName)

	// Guests: the owner turns guest links on; the console makes one; a guest joins.
	require.Equal(t, 200, call(t, r, "PATCH", "/api/v1/org/settings", owner, map[string]bool{"guest_links": true}, nil))
	var guestShare struct {
		ID, Link string
	}
	require.Equal(t, 201, call(t, r, "POST", "/api/v1/console/shares", console, map[string]any{"kind": "guest", "ttl_seconds": 900}, &guestShare))
	guestToken := fragment(t, guestShare.Link, "guest")
	var guest struct {
		Token         string `json:"token"`
		Session       string `json:"session"`
		PrincipalName string `json:"principal_name"`
		DeviceName    string `json:"device_name"`
		SharedBy      string `json:"shared_by"`
	}
	require.Equal(t, 200, call(t, r, "POST", "/api/v1/guest/join", "", map[string]string{"token": guestToken, "name": "Jane"}, &guest))
	claims, err := r.Issuer().Verify(guest.Token, auth.AudienceConsole)
	require.NoError(t, err)
	assert.Equal(t, wire.GrantView, claims.Grant)
	assert.Equal(t, "guest:"+guestShare.ID, claims.Subject)
	assert.Equal(t, "Jane (guest)", guest.PrincipalName)
	assert.Equal(t, "rack-1", guest.DeviceName)
	assert.Equal(t, "owner@acme.example", guest.SharedBy)
	// The guest's token is a console token of a live session, as a redeemed link's.
	var status struct {
		Live bool `json:"live"`
	}
	require.Equal(t, 200, call(t, r, "GET", "/api/v1/console/status", guest.Token, nil, &status))
	assert.True(t, status.Live)
	// A guest's console token shares nothing.
	require.Equal(t, 403, call(t, r, "POST", "/api/v1/console/shares", guest.Token, map[string]string{"kind": "member"}, nil))

	// Guests are limited per client address: 3 a minute here, whatever they send.
	var apiErr struct{ Code, Message string }
	require.Equal(t, 400, call(t, r, "POST", "/api/v1/guest/join", "", map[string]string{"token": guestToken, "name": "\x1b"}, &apiErr))
	require.Equal(t, 404, call(t, r, "POST", "/api/v1/guest/join", "", map[string]string{"token": "kvms_nope", "name": "Joe"}, &apiErr))
	require.Equal(t, 429, call(t, r, "POST", "/api/v1/guest/join", "", map[string]string{"token": guestToken, "name": "Joe"}, &apiErr))
	assert.Equal(t, "rate-limited", apiErr.Code)

	// Revoking the member link stops the auditor's console, with the reason.
	require.Equal(t, 204, call(t, r, "DELETE", "/api/v1/console/shares/"+share.ID, console, nil, nil))
	var s struct {
		Current, Reason string
	}
	require.Equal(t, 200, call(t, r, "GET", "/api/v1/sessions/"+joined.Session, owner, nil, &s))
	assert.Equal(t, "STOPPED", s.Current)
	assert.Equal(t, "the share link was revoked", s.Reason)
	require.Equal(t, 200, call(t, r, "GET", "/api/v1/console/status", member.Token, nil, &status))
	assert.False(t, status.Live)
	require.Equal(t, 410, call(t, r, "POST", "/api/v1/shares/join", auditor, map[string]string{"token": fragment(t, share.Link, "share")}, &apiErr))
	assert.Equal(t, "gone", apiErr.Code)

	// The sharing console's session ending ends the guest's at the reconciler's next pass.
	require.Equal(t, 204, call(t, r, "DELETE", "/api/v1/sessions/"+redeemed.Session, owner, nil, nil))
	require.NoError(t, r.control.sessions.Reconcile(ctx, claims.Tenant))
	require.Equal(t, 200, call(t, r, "GET", "/api/v1/sessions/"+guest.Session, owner, nil, &s))
	assert.Equal(t, "STOPPED", s.Current)
	assert.Equal(t, "the shared session ended", s.Reason)
}
