package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestSessionsNamePeople (kvmrelay issue 12, item 7): sessions are listed with who holds them
// as people know them (email, API key name) and the device's name; ?live=true lists every open
// session and nothing else; stopping one names the person who stopped it in the reason.
func TestSessionsNamePeople(t *testing.T) {
	e := newEnv(t)
	_, tok := e.owner("acme")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack12-node3"}, &d))
	var key createAPIKeyResponse
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/api-keys", tok, createAPIKeyRequest{Name: "ci-bot", Role: store.RoleOperator}, &key))

	start := func(bearer string) string {
		t.Helper()
		var started startedView
		require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", bearer, nil, &started))
		return started.Session.ID
	}
	ended := start(tok)
	mine := start(tok)
	bots := start(key.Key)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/sessions/"+ended, tok, nil, nil))

	cases := []struct {
		name  string
		query string
		want  map[string]string // session id → principal_name
	}{
		{"live only", "?live=true", map[string]string{mine: "owner@acme.example", bots: "API key ci-bot"}},
		{"recent, ended included", "?limit=10", map[string]string{ended: "owner@acme.example", mine: "owner@acme.example", bots: "API key ci-bot"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var list sessionsList
			require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+d.ID+"/sessions"+tc.query, tok, nil, &list))
			got := map[string]string{}
			for _, s := range list.Sessions {
				got[s.ID] = s.PrincipalName
				assert.Equal(t, "rack12-node3", s.DeviceName)
			}
			assert.Equal(t, tc.want, got)
		})
	}

	var one sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+ended, tok, nil, &one))
	assert.Equal(t, store.SessionStopped, one.Current)
	assert.Equal(t, "stopped by owner@acme.example", one.Reason, "the reason names the person, not an id")
	assert.Equal(t, "owner@acme.example", one.PrincipalName)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/sessions/"+bots, key.Key, nil, nil))
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+bots, tok, nil, &one))
	assert.Equal(t, "stopped by API key ci-bot", one.Reason)
}
