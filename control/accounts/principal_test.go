package accounts

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func TestRoleMatrix(t *testing.T) {
	all := []Action{ManageOrg, ManageUsers, ManageDevices, ManageAPIKeys, ConsoleControl, ConsoleView, ReadAudit, ReadDevices, ConsoleTake, ReadRecordings}
	want := map[store.Role][]Action{
		store.RoleOwner:    all,
		store.RoleAdmin:    {ManageUsers, ManageDevices, ManageAPIKeys, ConsoleControl, ConsoleView, ReadAudit, ReadDevices, ConsoleTake, ReadRecordings},
		store.RoleOperator: {ConsoleControl, ConsoleView, ReadDevices},
		store.RoleViewer:   {ConsoleView, ReadDevices},
		store.RoleAuditor:  {ReadAudit, ReadRecordings},
		"":                 nil,
		"root":             nil,
	}
	for role, allowed := range want {
		for _, a := range append(all, Action(0), Action(99)) {
			p := Principal{Role: role}
			assert.Equal(t, contains(allowed, a), p.Can(a), "%q %s", role, a)
		}
	}
}

func contains(as []Action, a Action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func TestRoleWithin(t *testing.T) {
	for _, tc := range []struct {
		role, max store.Role
		want      bool
	}{
		{store.RoleOwner, store.RoleOwner, true},
		{store.RoleAdmin, store.RoleOwner, true},
		{store.RoleAuditor, store.RoleOwner, true},
		{store.RoleOwner, store.RoleAdmin, false},
		{store.RoleAdmin, store.RoleAdmin, true},
		{store.RoleAuditor, store.RoleAdmin, true},
		{store.RoleOperator, store.RoleAdmin, true},
		{store.RoleAdmin, store.RoleOperator, false},
		{store.RoleViewer, store.RoleOperator, true},
		{store.RoleAuditor, store.RoleOperator, false},
		{store.RoleOperator, store.RoleViewer, false},
		{store.RoleViewer, store.RoleAuditor, false},
		{"", store.RoleOwner, false},
		{store.RoleViewer, "", false},
	} {
		assert.Equal(t, tc.want, RoleWithin(tc.role, tc.max), "%s within %s", tc.role, tc.max)
	}
}

func TestScope(t *testing.T) {
	lab := map[string]string{"site": "lab"}
	for _, tc := range []struct {
		name   string
		scope  map[string]string
		labels map[string]string
		sees   bool
	}{
		{"unscoped sees all", nil, map[string]string{"site": "prod"}, true},
		{"unscoped sees unlabelled", nil, nil, true},
		{"match", lab, map[string]string{"site": "lab", "rack": "1"}, true},
		{"other value", lab, map[string]string{"site": "prod"}, false},
		{"missing label", lab, map[string]string{"rack": "1"}, false},
		{"unlabelled", lab, nil, false},
		{"empty value is a value", map[string]string{"site": ""}, map[string]string{}, false},
		{"two labels, one matches", map[string]string{"site": "lab", "rack": "1"}, map[string]string{"site": "lab", "rack": "2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.sees, Principal{Scope: tc.scope}.SeesDevice(tc.labels))
		})
	}
	assert.True(t, ScopeWithin(map[string]string{"site": "lab", "rack": "1"}, lab), "narrower is within")
	assert.False(t, ScopeWithin(nil, lab), "unscoped is wider than scoped")
	assert.True(t, ScopeWithin(lab, nil))
}

func TestPrincipalString(t *testing.T) {
	assert.Equal(t, "user:u1", Principal{Kind: KindUser, ID: "u1"}.String())
	assert.Equal(t, "apikey:k1", Principal{Kind: KindAPIKey, ID: "k1"}.String())
	assert.Equal(t, "oidc:sub-1", Principal{Kind: KindOIDC, ID: "sub-1"}.String())
}
