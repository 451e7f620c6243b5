package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestNarrowingRoutesReauthorize: every route that may take a right away re-derives the live
// sessions' rights once it succeeded, and stops, with the reason, the sessions it took the
// right of (and only those); a refused request changes nothing and stops nothing.
func TestNarrowingRoutesReauthorize(t *testing.T) {
	fra := map[string]string{"site": "fra1"}
	for _, tc := range []struct {
		name   string
		apiKey bool
		// change returns the request that takes the right away; refused is one the API
		// refuses (nothing changes).
		change func(userID, keyID, deviceID string) (method, path string, body any)
		reason string
	}{
		{"API key revoked", true,
			func(_, k, _ string) (string, string, any) { return "DELETE", "/api/v1/api-keys/" + k, nil },
			"the API key that opened this console was revoked"},
		{"role lowered", false,
			func(u, _, _ string) (string, string, any) {
				return "PATCH", "/api/v1/users/" + u, map[string]any{"role": "auditor"}
			},
			"your role (auditor) no longer allows consoles on rack-1"},
		{"scope changed", false,
			func(u, _, _ string) (string, string, any) {
				return "PATCH", "/api/v1/users/" + u, map[string]any{"scope": map[string]string{"site": "ams1"}}
			},
			"rack-1 is no longer within your device scope (site=ams1)"},
		{"device relabelled", false,
			func(_, _, d string) (string, string, any) {
				return "PATCH", "/api/v1/devices/" + d, map[string]any{"labels": map[string]string{"site": "ams1"}}
			},
			"rack-1 is no longer within your device scope (site=fra1)"},
		{"user disabled", false,
			func(u, _, _ string) (string, string, any) { return "POST", "/api/v1/users/" + u + "/disable", nil },
			"user disabled"},
		{"device revoked", false,
			func(_, _, d string) (string, string, any) { return "DELETE", "/api/v1/devices/" + d, nil },
			"device revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, admin := e.owner("acme")
			holder := e.member(admin, "acme", "op@acme.example", store.RoleOperator, fra)
			userID := e.userID(admin, "op@acme.example")
			var keyID string
			if tc.apiKey {
				var k createAPIKeyResponse
				require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/api-keys", admin, createAPIKeyRequest{Name: "ci", Role: store.RoleOperator, Scope: fra}, &k))
				holder, keyID = k.Key, k.APIKey.ID
			}
			var d deviceView
			require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "rack-1", Labels: fra}, &d))
			var held, other startedView
			require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", holder, nil, &held))
			require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", admin, nil, &other))

			// A refused change (not found) re-checks nothing.
			method, path, body := tc.change(store.NewID(), store.NewID(), store.NewID())
			assert.Equal(t, http.StatusNotFound, e.do(method, path, admin, body, nil))
			var s sessionView
			require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+held.Session.ID, admin, nil, &s))
			assert.Equal(t, store.SessionRequested, s.Current)

			method, path, body = tc.change(userID, keyID, d.ID)
			status := e.do(method, path, admin, body, nil)
			require.True(t, status >= 200 && status < 300, "%s %s: %d", method, path, status)
			require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+held.Session.ID, admin, nil, &s))
			assert.Equal(t, store.SessionStopped, s.Current, "the holder's session ended with the change")
			assert.Equal(t, tc.reason, s.Reason)
			require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+other.Session.ID, admin, nil, &s))
			if tc.name != "device revoked" {
				assert.Equal(t, store.SessionRequested, s.Current, "the admin's session is untouched")
			}
		})
	}
}

// TestHalfDoneChangeReauthorizes: a PATCH that lowered the role and then had its scope
// refused answers the refusal, and the lowered role still ends the session at once.
func TestHalfDoneChangeReauthorizes(t *testing.T) {
	e := newEnv(t)
	_, admin := e.owner("acme")
	op := e.member(admin, "acme", "op@acme.example", store.RoleOperator, nil)
	opID := e.userID(admin, "op@acme.example")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "rack-1"}, &d))
	var held startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", op, nil, &held))

	assert.Equal(t, http.StatusBadRequest, e.do("PATCH", "/api/v1/users/"+opID, admin,
		map[string]any{"role": "auditor", "scope": map[string]string{"site": "fra\n1"}}, nil))
	var s sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+held.Session.ID, admin, nil, &s))
	assert.Equal(t, store.SessionStopped, s.Current)
	assert.Equal(t, "your role (auditor) no longer allows consoles on rack-1", s.Reason)
}
