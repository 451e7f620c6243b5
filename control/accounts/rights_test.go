package accounts

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestMayHoldConsole: the console right and its grant are re-derived from the store — the
// same role matrix and label scope as starting a console — and every way of losing the right
// says why, in words a console can show.
func TestMayHoldConsole(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	fra := map[string]string{"site": "fra1"}
	dev := store.Device{Name: "rack12-node3", Labels: map[string]string{"site": "fra1", "row": "12"}}
	op := e.addUser(t, org.ID, "op@acme.test", ownerPassword, store.RoleOperator, fra)
	admin := e.addUser(t, org.ID, "admin@acme.test", ownerPassword, store.RoleAdmin, nil)
	viewer := e.addUser(t, org.ID, "viewer@acme.test", ownerPassword, store.RoleViewer, nil)
	auditor := e.addUser(t, org.ID, "auditor@acme.test", ownerPassword, store.RoleAuditor, nil)
	other := e.addUser(t, org.ID, "ams@acme.test", ownerPassword, store.RoleOperator, map[string]string{"site": "ams1"})
	otherViewer := e.addUser(t, org.ID, "ams-viewer@acme.test", ownerPassword, store.RoleViewer, map[string]string{"site": "ams1"})
	disabled := e.addUser(t, org.ID, "gone@acme.test", ownerPassword, store.RoleOperator, nil)
	_, err := e.svc.SetDisabled(ctx, owner, disabled.ID, true)
	require.NoError(t, err)
	_, key, err := e.svc.CreateAPIKey(ctx, owner, "ci", store.RoleOperator, fra)
	require.NoError(t, err)
	_, revoked, err := e.svc.CreateAPIKey(ctx, owner, "old", store.RoleOperator, nil)
	require.NoError(t, err)
	require.NoError(t, e.svc.RevokeAPIKey(ctx, owner, revoked.ID))
	_, viewKey, err := e.svc.CreateAPIKey(ctx, owner, "view", store.RoleViewer, nil)
	require.NoError(t, err)
	_, auditKey, err := e.svc.CreateAPIKey(ctx, owner, "audit", store.RoleAuditor, nil)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, principal string
		grant           wire.Grant // with no reason: the grant derived
		reason          string     // "" allowed
		notStored       bool
	}{
		{"owner", owner.String(), wire.GrantAdmin, "", false},
		{"admin", admin.String(), wire.GrantAdmin, "", false},
		{"operator in scope", op.String(), wire.GrantControl, "", false},
		{"API key in scope", "apikey:" + key.ID, wire.GrantControl, "", false},
		{"viewer", viewer.String(), wire.GrantView, "", false},
		{"viewer API key", "apikey:" + viewKey.ID, wire.GrantView, "", false},
		{"auditor", auditor.String(), "", "your role (auditor) no longer allows consoles on rack12-node3", false},
		{"auditor API key", "apikey:" + auditKey.ID, "", "the API key's role (auditor) no longer allows consoles on rack12-node3", false},
		{"out of scope", other.String(), "", "rack12-node3 is no longer within your device scope (site=ams1)", false},
		{"viewer out of scope", otherViewer.String(), "", "rack12-node3 is no longer within your device scope (site=ams1)", false},
		{"disabled user", disabled.String(), "", "the account that opened this console was disabled", false},
		{"revoked key", "apikey:" + revoked.ID, "", "the API key that opened this console was revoked", false},
		{"unknown user", "user:" + store.NewID(), "", "the account that opened this console no longer exists", false},
		{"unknown key", "apikey:" + store.NewID(), "", "the API key that opened this console no longer exists", false},
		{"not a principal", "device:" + store.NewID(), "", `the console was opened by "device:`, false},
		{"OIDC subject", "oidc:alice", "", "", true},
		{"the relay's operator (kvmrelay token console)", "relay:ops", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, e.store.Read(ctx, org.ID, func(tx store.Tx) error {
				grant, err := MayHoldConsole(ctx, tx, tc.principal, dev)
				if tc.reason == "" {
					assert.NoError(t, err)
				} else {
					var re *RightError
					require.True(t, errors.As(err, &re), "%v", err)
					assert.ErrorIs(t, err, ErrRightRemoved)
					assert.Contains(t, re.Reason, tc.reason)
				}
				assert.Equal(t, tc.grant, grant, "not stored: empty, the session keeps its own")
				_, err = Current(ctx, tx, tc.principal)
				assert.Equal(t, tc.notStored, errors.Is(err, ErrNotStored))
				return nil
			}))
		})
	}
}

// TestGrantOn: the role decides the grant on a device inside the principal's scope; a device
// outside it, or a role without a console, is refused with the reason.
func TestGrantOn(t *testing.T) {
	fra := store.Device{Name: "rack12-node3", Labels: map[string]string{"site": "fra1"}}
	ams := store.Device{Name: "ams-node1", Labels: map[string]string{"site": "ams1"}}
	for _, tc := range []struct {
		role   store.Role
		kind   string
		scope  map[string]string
		dev    store.Device
		grant  wire.Grant
		reason string
	}{
		{store.RoleOwner, KindUser, nil, fra, wire.GrantAdmin, ""},
		{store.RoleAdmin, KindUser, nil, fra, wire.GrantAdmin, ""},
		{store.RoleAdmin, KindOIDC, nil, fra, wire.GrantAdmin, ""},
		{store.RoleOperator, KindUser, nil, fra, wire.GrantControl, ""},
		{store.RoleOperator, KindAPIKey, map[string]string{"site": "fra1"}, fra, wire.GrantControl, ""},
		{store.RoleViewer, KindUser, nil, fra, wire.GrantView, ""},
		{store.RoleViewer, KindOIDC, map[string]string{"site": "fra1"}, fra, wire.GrantView, ""},
		{store.RoleAuditor, KindUser, nil, fra, "", "your role (auditor) no longer allows consoles on rack12-node3"},
		{"", KindUser, nil, fra, "", "your role () no longer allows consoles on rack12-node3"},
		{store.RoleOwner, KindUser, map[string]string{"site": "fra1"}, ams, "", "ams-node1 is no longer within your device scope (site=fra1)"},
		{store.RoleViewer, KindAPIKey, map[string]string{"site": "fra1"}, ams, "", "ams-node1 is no longer within the API key's device scope (site=fra1)"},
	} {
		t.Run(string(tc.role)+"/"+tc.kind+"/"+tc.dev.Name, func(t *testing.T) {
			p := Principal{Kind: tc.kind, ID: "x", Role: tc.role, Scope: tc.scope}
			g, err := p.GrantOn(tc.dev)
			assert.Equal(t, tc.grant, g)
			if tc.reason == "" {
				require.NoError(t, err)
				assert.True(t, g.Valid())
				return
			}
			var re *RightError
			require.True(t, errors.As(err, &re), "%v", err)
			assert.Equal(t, tc.reason, re.Reason)
		})
	}
}

// TestSetScope: an admin narrows or widens a user's device scope within its own; the change
// is audited and reaches the next authentication at once.
func TestSetScope(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	op := e.addUser(t, org.ID, "op@acme.test", ownerPassword, store.RoleOperator, map[string]string{"site": "fra1"})
	scopedAdmin := e.addUser(t, org.ID, "fra-admin@acme.test", ownerPassword, store.RoleAdmin, map[string]string{"site": "fra1"})

	require.NoError(t, e.svc.SetScope(ctx, owner, op.ID, map[string]string{"site": "ams1"}))
	assert.Equal(t, map[string]string{"site": "ams1"}, e.user(t, org.ID, op.ID).Scope)
	recs := auditsOf(e.audits(t, org.ID), store.AuditRoleChange)
	require.NotEmpty(t, recs)
	last := recs[len(recs)-1]
	assert.Equal(t, owner.String(), last.Actor)
	assert.Equal(t, map[string]string{"scope_from": "site=fra1", "scope_to": "site=ams1", "email": "op@acme.test"}, last.Details)

	require.NoError(t, e.svc.SetScope(ctx, owner, op.ID, nil))
	assert.Empty(t, e.user(t, org.ID, op.ID).Scope, "an empty scope: every device")

	for _, tc := range []struct {
		name  string
		p     Principal
		user  string
		scope map[string]string
		want  error
	}{
		{"wider than the admin's own", scopedAdmin, op.ID, nil, ErrForbidden},
		{"a user outside the admin's scope", scopedAdmin, op.ID, map[string]string{"site": "fra1"}, ErrForbidden},
		{"an operator may not", op, scopedAdmin.ID, nil, ErrForbidden},
		{"unknown user", owner, store.NewID(), nil, ErrNotFound},
		{"control character", owner, op.ID, map[string]string{"site": "fra\n1"}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, e.svc.SetScope(ctx, tc.p, tc.user, tc.scope), tc.want)
		})
	}
}

// TestMayHoldConsoleUnderMFARequirement: once the organization requires MFA, a member without
// it loses the console right (the API already restricts them to enrolling); one with MFA keeps
// it, and enrolling gives it back.
func TestMayHoldConsoleUnderMFARequirement(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	dev := store.Device{Name: "rack12-node3"}
	vera := e.addUser(t, org.ID, "vera@acme.test", ownerPassword, store.RoleOperator, nil)
	mayHold := func(p Principal) error {
		var got error
		require.NoError(t, e.store.Read(ctx, org.ID, func(tx store.Tx) error {
			_, got = MayHoldConsole(ctx, tx, p.String(), dev)
			return nil
		}))
		return got
	}
	require.NoError(t, mayHold(vera), "no requirement yet")

	e.enroll(t, owner)
	_, err := e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{RequireMFA: ptr(true)})
	require.NoError(t, err)
	err = mayHold(vera)
	var re *RightError
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Contains(t, re.Reason, "requires MFA")
	assert.NoError(t, mayHold(owner), "a member with MFA keeps the right")

	e.enroll(t, vera)
	assert.NoError(t, mayHold(vera), "enrolling gives it back")
}
