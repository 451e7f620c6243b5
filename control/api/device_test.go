package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/denied"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// entries returns the organization's audit entries with the given action.
func (e *env) entries(orgID string, action store.AuditAction) []store.AuditRecord {
	e.t.Helper()
	var out []store.AuditRecord
	require.NoError(e.t, e.st.Read(context.Background(), orgID, func(tx store.Tx) error {
		es, err := tx.Audit(context.Background(), 0, 1000)
		for _, en := range es {
			if en.Record.Action == action {
				out = append(out, en.Record)
			}
		}
		return err
	}))
	return out
}

// TestDeviceChangesAudited: renaming and relabelling (which decide who may reach a device) are
// audited with the values before and after; an enrollment token is its own action; a revoked
// device can be deleted, an unrevoked one cannot, and the chain still verifies afterwards.
// Every entry names its actor by email beside the id.
func TestDeviceChangesAudited(t *testing.T) {
	e := newEnv(t)
	org, tok := e.owner("acme")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack-1", Labels: map[string]string{"site": "fra1"}}, &d))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/enrollment-tokens", tok, nil, nil))
	assert.Len(t, e.entries(org.ID, store.AuditDeviceCreate), 1, "issuing a token is not creating the device")
	issued := e.entries(org.ID, store.AuditEnrollmentToken)
	require.Len(t, issued, 1)
	assert.Equal(t, "device:"+d.ID, issued[0].Target)
	assert.Equal(t, "owner@acme.example", issued[0].ActorName)

	name := "rack-2"
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/devices/"+d.ID, tok, patchDeviceRequest{Name: &name}, &d))
	labels := map[string]string{"site": "ams1", "row": "b"}
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/devices/"+d.ID, tok, patchDeviceRequest{Labels: &labels}, &d))
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/devices/"+d.ID, tok, patchDeviceRequest{Name: &name, Labels: &labels}, &d))
	updates := e.entries(org.ID, store.AuditDeviceUpdate)
	require.Len(t, updates, 2, "a change that changes nothing is not recorded")
	assert.Equal(t, map[string]string{"name": "rack-2", "name_before": "rack-1", "name_after": "rack-2"}, updates[0].Details)
	assert.Equal(t, map[string]string{"name": "rack-2", "labels_before": "site=fra1", "labels_after": "row=b,site=ams1"}, updates[1].Details)
	assert.Equal(t, "user:", updates[1].Actor[:5])
	assert.Equal(t, "owner@acme.example", updates[1].ActorName)

	var apiErr Error
	require.Equal(t, http.StatusConflict, e.do("DELETE", "/api/v1/devices/"+d.ID+"?purge=true", tok, nil, &apiErr))
	assert.Contains(t, apiErr.Message, `"rack-2" is not revoked; revoke it first`)
	assert.Empty(t, e.cut.cut, "refusing to delete revokes nothing")
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+d.ID, tok, nil, &d))
	assert.Nil(t, d.RevokedAt)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/devices/"+d.ID, tok, nil, nil))
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/devices/"+d.ID+"?purge=true", tok, nil, nil))
	assert.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/devices/"+d.ID, tok, nil, nil))
	assert.Equal(t, http.StatusNotFound, e.do("DELETE", "/api/v1/devices/"+d.ID+"?purge=true", tok, nil, nil))
	deleted := e.entries(org.ID, store.AuditDeviceDelete)
	require.Len(t, deleted, 1)
	assert.Equal(t, map[string]string{"name": "rack-2"}, deleted[0].Details)
	assert.Len(t, e.entries(org.ID, store.AuditDeviceCreate), 1, "the device's history stays")
	var v verifyView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify", tok, nil, &v))
	assert.True(t, v.OK, v.Reason)

	var list auditList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit?limit=100", tok, nil, &list))
	require.NotEmpty(t, list.Entries)
	last := list.Entries[len(list.Entries)-1]
	assert.Equal(t, store.AuditDeviceDelete, last.Action)
	assert.Equal(t, "owner@acme.example", last.ActorName, "the API shows who")
}

// TestDeviceTextRefused: names and label keys and values with characters that hide or reorder
// text are refused on create, rename and relabel, saying which character where.
func TestDeviceTextRefused(t *testing.T) {
	e := newEnv(t)
	org, tok := e.owner("acme")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack-1"}, &d))
	cases := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"rack\x00", nil, "name has a NUL (U+0000) at character 5"},
		{"ra\x1b[2Jck", nil, "name has an escape (ESC) (U+001B) at character 3"},
		{"rack\r\nadmin", nil, "name has a carriage return (U+000D) at character 5"},
		{"rack\nx", nil, "name has a line feed (U+000A) at character 5"},
		{"gpu-\u202e1-kcar", nil, "name has a right-to-left override (U+202E) at character 5"},
		{"r\u200back", nil, "name has a zero-width space (U+200B) at character 2"},
		{"\ufeffrack", nil, "name has a zero-width no-break space (BOM) (U+FEFF) at character 1"},
		{"ok", map[string]string{"si\u2066te": "x"}, `label key "si\u2066te" has a bidi embedding or isolate (U+2066) at character 3`},
		{"ok", map[string]string{"site": "fra\x001"}, `label "site" value has a NUL (U+0000) at character 4`},
		{"ok", map[string]string{"site": "\u00e9\u202e"}, `label "site" value has a right-to-left override (U+202E) at character 2`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			var apiErr Error
			require.Equal(t, http.StatusBadRequest, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: tc.name, Labels: tc.labels}, &apiErr))
			assert.Contains(t, apiErr.Message, tc.want)
			assert.Contains(t, apiErr.Message, "only printable characters are allowed")
			if tc.labels == nil {
				name := tc.name
				require.Equal(t, http.StatusBadRequest, e.do("PATCH", "/api/v1/devices/"+d.ID, tok, patchDeviceRequest{Name: &name}, &apiErr), "rename")
			} else {
				require.Equal(t, http.StatusBadRequest, e.do("PATCH", "/api/v1/devices/"+d.ID, tok, patchDeviceRequest{Labels: &tc.labels}, &apiErr), "relabel")
			}
			assert.Contains(t, apiErr.Message, tc.want)
		})
	}
	// Printable text of any script, and spaces, is fine.
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "Server Zürich 機架 ★", Labels: map[string]string{"site": "zürich 1"}}, nil))
	var list devicesList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices", tok, nil, &list))
	assert.Len(t, list.Devices, 2, "nothing refused was stored")
	assert.Empty(t, e.entries(org.ID, store.AuditDeviceUpdate))
}

// TestDeviceNamesUniqueAPI: a name another device of the organization has, in any case, is a
// 409 that says so, on create and on rename; other organizations may use it.
func TestDeviceNamesUniqueAPI(t *testing.T) {
	e := newEnv(t)
	_, tok := e.owner("acme")
	_, other := e.owner("globex")
	var d, d2 deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "Rack12-Node3"}, &d))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", other, deviceRequest{Name: "rack12-node3"}, nil))
	var apiErr Error
	require.Equal(t, http.StatusConflict, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack12-NODE3"}, &apiErr))
	assert.Equal(t, CodeConflict, apiErr.Code)
	assert.Contains(t, apiErr.Message, `A device named "rack12-NODE3" already exists in this organization (names are unique ignoring case)`)
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack13"}, &d2))
	name := "RACK12-node3"
	require.Equal(t, http.StatusConflict, e.do("PATCH", "/api/v1/devices/"+d2.ID, tok, patchDeviceRequest{Name: &name}, &apiErr))
	assert.Contains(t, apiErr.Message, "already exists")
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/devices/"+d.ID, tok, patchDeviceRequest{Name: &name}, &d), "its own name in another case")
	assert.Equal(t, name, d.Name)
}

// TestRefusalsAudited: REST authorization failures land in the principal's own chain like
// signaling refusals: a 403, a 404 for another organization's device or one outside the
// label scope; a 404 for what does not exist is not recorded; a flood is held to the budget.
func TestRefusalsAudited(t *testing.T) {
	e := newEnv(t)
	org, admin := e.owner("acme")
	globex, other := e.owner("globex")
	var fra, ams, foreign deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "fra-1", Labels: map[string]string{"site": "fra1"}}, &fra))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "ams-1", Labels: map[string]string{"site": "ams1"}}, &ams))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", other, deviceRequest{Name: "theirs"}, &foreign))
	operator := e.member(admin, "acme", "op@acme.example", store.RoleOperator, map[string]string{"site": "fra1"})
	require.Empty(t, e.entries(org.ID, store.AuditAccessDenied))

	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/devices", operator, deviceRequest{Name: "x"}, nil))
	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/devices/"+ams.ID, operator, nil, nil))
	require.Equal(t, http.StatusNotFound, e.do("POST", "/api/v1/devices/"+foreign.ID+"/sessions", operator, nil, nil))
	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/devices/"+store.NewID(), operator, nil, nil))
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+fra.ID, operator, nil, nil))
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/me/password", operator,
		changePasswordRequest{CurrentPassword: "not the password", NewPassword: "another fine passphrase"}, nil))

	got := e.entries(org.ID, store.AuditAccessDenied)
	require.Len(t, got, 3, "403, out of scope, other organization; not the unknown id, not the allowed read, "+
		"not the wrong current password (a failed login, audited as one)")
	want := []struct{ target, reason, status, request string }{
		{"api:POST /api/v1/devices", "forbidden", "403", "POST /api/v1/devices"},
		{"device:" + ams.ID, "out_of_scope", "404", "GET /api/v1/devices/" + ams.ID},
		{"device:" + foreign.ID, "other_organization", "404", "POST /api/v1/devices/" + foreign.ID + "/sessions"},
	}
	for i, w := range want {
		assert.Equal(t, "op@acme.example", got[i].ActorName)
		assert.Equal(t, w.target, got[i].Target)
		assert.Equal(t, w.reason, got[i].Details["reason"])
		assert.Equal(t, w.status, got[i].Details["status"])
		assert.Equal(t, w.request, got[i].Details["request"])
		assert.Equal(t, "operator", got[i].Details["role"])
	}
	assert.Empty(t, e.entries(globex.ID, store.AuditAccessDenied), "never the other organization's chain")

	// A flood: the chain grows by the budget, not by the requests.
	for range 60 {
		require.Equal(t, http.StatusForbidden, e.do("GET", "/api/v1/audit", operator, nil, nil))
	}
	n := len(e.entries(org.ID, store.AuditAccessDenied))
	assert.GreaterOrEqual(t, n, denied.Burst)
	assert.LessOrEqual(t, n, denied.Burst+1, "at most one more if a minute went by")
	var v verifyView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit/verify", admin, nil, &v))
	assert.True(t, v.OK, v.Reason)
}
