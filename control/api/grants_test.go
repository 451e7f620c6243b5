package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// regrants records the grants the sessions manager hands to live consoles.
type regrants struct {
	mu  sync.Mutex
	got map[string]wire.Grant
}

func (r *regrants) Regrant(_ context.Context, sid string, g wire.Grant) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[sid] = g
	return nil
}

func (r *regrants) of(sid string) wire.Grant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[sid]
}

// linkClaims verifies the one-time login a console URL carries.
func (e *env) linkClaims(consoleURL string) auth.Claims {
	e.t.Helper()
	u, err := url.Parse(consoleURL)
	require.NoError(e.t, err)
	code, ok := strings.CutPrefix(u.Fragment, "code=")
	require.True(e.t, ok)
	code, err = url.QueryUnescape(code)
	require.NoError(e.t, err)
	c, err := e.iss.Verify(code, auth.AudienceLogin)
	require.NoError(e.t, err)
	return c
}

// TestStartSessionGrants: whoever may watch a console starts one, and the answer and the
// console link say what it may do there, from its role; the auditor gets none.
func TestStartSessionGrants(t *testing.T) {
	e := newEnv(t)
	_, owner := e.owner("acme")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", owner, deviceRequest{Name: "rack-1"}, &d))
	for _, tc := range []struct {
		role   store.Role
		status int
		grant  wire.Grant
	}{
		{store.RoleOwner, http.StatusCreated, wire.GrantAdmin},
		{store.RoleAdmin, http.StatusCreated, wire.GrantAdmin},
		{store.RoleOperator, http.StatusCreated, wire.GrantControl},
		{store.RoleViewer, http.StatusCreated, wire.GrantView},
		{store.RoleAuditor, http.StatusForbidden, ""},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			who := owner
			if tc.role != store.RoleOwner {
				who = e.member(owner, "acme", string(tc.role)+"@acme.example", tc.role, nil)
			}
			var started startedView
			require.Equal(t, tc.status, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", who, nil, &started))
			if tc.status != http.StatusCreated {
				return
			}
			assert.Equal(t, tc.grant, started.Grant)
			assert.Equal(t, tc.grant, e.linkClaims(started.ConsoleURL).Grant, "the console link carries it")
		})
	}
}

// TestRoleChangeRegrants: an operator lowered to viewer keeps its console, re-granted to
// watch at once; lowered to auditor, it loses it.
func TestRoleChangeRegrants(t *testing.T) {
	e := newEnv(t)
	got := &regrants{got: map[string]wire.Grant{}}
	e.mgr.SetRegranter(got)
	_, admin := e.owner("acme")
	op := e.member(admin, "acme", "op@acme.example", store.RoleOperator, nil)
	opID := e.userID(admin, "op@acme.example")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", admin, deviceRequest{Name: "rack-1"}, &d))
	var held startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", op, nil, &held))
	grant, err := e.mgr.Admit(context.Background(), e.linkClaims(held.ConsoleURL))
	require.NoError(t, err)
	require.Equal(t, wire.GrantControl, grant)

	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/users/"+opID, admin, map[string]any{"role": "viewer"}, nil))
	assert.Equal(t, wire.GrantView, got.of(held.Session.ID), "re-granted at once")
	var s sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+held.Session.ID, admin, nil, &s))
	assert.Equal(t, store.SessionActive, s.Current, "a viewer keeps watching")

	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/users/"+opID, admin, map[string]any{"role": "auditor"}, nil))
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+held.Session.ID, admin, nil, &s))
	assert.Equal(t, store.SessionStopped, s.Current)
	assert.Equal(t, "your role (auditor) no longer allows consoles on rack-1", s.Reason)
}
