package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestDashboardPasswordReset: an admin issues a reset link for a member; the link opens in
// Chromium (through /console/, as mailed), the member chooses a new password and is signed in;
// the old password stops working, the new one works, and the link works once.
func TestDashboardPasswordReset(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	ctx2, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inv, err := acme.api.InviteUser(ctx2, client.Invite{Email: "olga@acme.example", Role: "operator"})
	require.NoError(t, err)
	invLink, err := url.Parse(inv.Link)
	require.NoError(t, err)
	userID := acceptInvitation(t, s.url, strings.TrimPrefix(invLink.Fragment, "invite="), webPassword)

	reset, err := acme.api.IssuePasswordReset(ctx2, userID)
	require.NoError(t, err)
	link, err := url.Parse(reset.Link)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link.Fragment, "reset="), "reset link %s", reset.Link)

	ctx := testenv.Chromium(t)
	probeCSP(t, ctx)
	dashboard(t, ctx, reset.Link, "invite")
	loc, err := js[string](ctx, `location.pathname + location.hash`)
	require.NoError(t, err)
	assert.Equal(t, "/", loc, "routed to the dashboard, and the token gone from the address bar")
	title, err := js[string](ctx, `document.getElementById("invite-title").textContent`)
	require.NoError(t, err)
	assert.Equal(t, "Choose a new password", title)
	shot(t, ctx, "reset")

	const newPassword = "olga's freshly reset passphrase"
	fill(t, ctx, "#invite-password", newPassword)
	fill(t, ctx, "#invite-confirm", newPassword)
	click(t, ctx, "#invite-submit")
	waitJS(t, ctx, `document.body.dataset.view === "devices"`, 15*time.Second, "signed in after the reset")
	who, err := js[string](ctx, `document.getElementById("who").textContent`)
	require.NoError(t, err)
	assert.Contains(t, who, "olga@acme.example")

	signOut(t, ctx)
	fill(t, ctx, "#signin-org", "acme")
	fill(t, ctx, "#signin-email", "olga@acme.example")
	fill(t, ctx, "#signin-password", webPassword)
	click(t, ctx, "#signin-submit")
	waitJS(t, ctx, `document.getElementById("signin-error").textContent.includes("wrong")`, 10*time.Second, "the old password refused")
	signIn(t, ctx, "acme", "olga@acme.example", newPassword)

	signOut(t, ctx)
	dashboard(t, ctx, reset.Link, "invite")
	fill(t, ctx, "#invite-password", "yet another long password")
	fill(t, ctx, "#invite-confirm", "yet another long password")
	click(t, ctx, "#invite-submit")
	waitJS(t, ctx, `document.getElementById("invite-error").textContent.includes("reset link is invalid, expired or already used")`,
		10*time.Second, "the used-up reset link")
	violations, err := js[[]string](ctx, `window.__cspViolations ?? []`)
	require.NoError(t, err)
	assert.Empty(t, violations)
}

// acceptInvitation accepts an invitation through the public API and returns the new user's id.
func acceptInvitation(t *testing.T, base, token, password string) string {
	t.Helper()
	body, err := json.Marshal(map[string]string{"token": token, "password": password})
	require.NoError(t, err)
	resp, err := http.Post(base+"/api/v1/invitations/accept", "application/json", strings.NewReader(string(body)))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.NotEmpty(t, out.ID)
	return out.ID
}
