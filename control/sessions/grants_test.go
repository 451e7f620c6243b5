package sessions

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// addUser makes a user of the fixture's organization with role, as "user:<id>".
func (f *fixture) addUser(t *testing.T, email string, role store.Role) string {
	t.Helper()
	ctx := context.Background()
	var principal string
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		u, err := tx.CreateUser(ctx, store.User{Email: email, Role: role, CreatedAt: f.clk.Now()})
		principal = "user:" + u.ID
		return err
	}))
	return principal
}

// audits returns the organization's audit records of action.
func (f *fixture) audits(t *testing.T, action store.AuditAction) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	require.NoError(t, f.st.Read(context.Background(), f.org.ID, func(tx store.Tx) error {
		es, err := tx.Audit(context.Background(), 0, 1000)
		for _, e := range es {
			if e.Record.Action == action {
				out = append(out, e.Record)
			}
		}
		return err
	}))
	return out
}

// TestStartGrants: the grant the caller derived travels in the console link and is audited
// with the start; admission derives it again for principals whose rights are stored, and
// keeps the link's for the others (an empty one, from before grants, meaning control).
func TestStartGrants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	vera := f.addUser(t, "vera@acme.example", store.RoleViewer)
	for _, tc := range []struct {
		name      string
		principal string
		started   wire.Grant // what the caller derived at start
		admitted  wire.Grant // what the admission derives
	}{
		{"viewer", vera, wire.GrantView, wire.GrantView},
		{"operator", f.ann, wire.GrantControl, wire.GrantControl},
		{"viewer with a stale link", vera, wire.GrantControl, wire.GrantView},
		{"OIDC subject keeps its link's", "oidc:alice", wire.GrantView, wire.GrantView},
		{"OIDC admin", "oidc:root", wire.GrantAdmin, wire.GrantAdmin},
		{"the relay's operator", "relay:ops", wire.GrantControl, wire.GrantControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started, err := f.m.Start(ctx, f.org.ID, tc.principal, f.device.ID, tc.started)
			require.NoError(t, err)
			c := f.consoleClaims(t, started)
			assert.Equal(t, tc.started, c.Grant, "the link carries the grant")
			recs := f.audits(t, store.AuditConsoleStart)
			require.NotEmpty(t, recs)
			last := recs[len(recs)-1]
			assert.Equal(t, started.Session.ID, last.Details["session"])
			assert.Equal(t, string(tc.started), last.Details["grant"])

			grant, err := f.m.Admit(ctx, c)
			require.NoError(t, err)
			assert.Equal(t, tc.admitted, grant)
			grant, err = f.m.Check(ctx, c)
			require.NoError(t, err)
			assert.Equal(t, tc.admitted, grant)
		})
	}

	t.Run("a token without a grant means control", func(t *testing.T) {
		started, err := f.m.Start(ctx, f.org.ID, "oidc:legacy", f.device.ID, wire.GrantView)
		require.NoError(t, err)
		c := f.consoleClaims(t, started)
		c.Grant = ""
		grant, err := f.m.Admit(ctx, c)
		require.NoError(t, err)
		assert.Equal(t, wire.GrantControl, grant)
	})

	for _, bad := range []wire.Grant{"", "root", "VIEW"} {
		_, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, bad)
		assert.ErrorIs(t, err, store.ErrInvalid, "grant %q", bad)
	}
}

// TestSharedSessionAudit: joins, leaves, control moves and input bursts are audited with the
// principals the store holds for the sessions involved, on the session's device.
func TestSharedSessionAudit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	annS, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	bobS, err := f.m.Start(ctx, f.org.ID, f.bob, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	ann, bob := annS.Session.ID, bobS.Session.ID

	require.NoError(t, f.m.ConsoleJoined(ctx, f.org.ID, ann, wire.GrantControl))
	require.NoError(t, f.m.ConsoleLeft(ctx, f.org.ID, ann, "console disconnected"))
	joins, leaves := f.audits(t, store.AuditConsoleJoin), f.audits(t, store.AuditConsoleLeave)
	require.Len(t, joins, 1)
	require.Len(t, leaves, 1)
	assert.Equal(t, f.ann, joins[0].Actor)
	assert.Equal(t, "ann@acme.example", joins[0].ActorName)
	assert.Equal(t, "device:"+f.device.ID, joins[0].Target)
	assert.Equal(t, map[string]string{"session": ann, "grant": "control"}, joins[0].Details)
	assert.Equal(t, map[string]string{"session": ann, "reason": "console disconnected"}, leaves[0].Details)

	for _, tc := range []struct {
		name    string
		move    ControlMove
		actor   string
		details map[string]string
	}{
		{"a request: the subject acts", ControlMove{Subject: bob, Kind: wire.EventRequested}, f.bob,
			map[string]string{"session": bob, "kind": "requested", "subject": f.bob}},
		{"approved: the controller acts", ControlMove{Subject: bob, Kind: wire.EventGranted, By: ann}, f.ann,
			map[string]string{"session": bob, "kind": "granted", "subject": f.bob, "by": f.ann, "by_session": ann}},
		{"a timeout: the system", ControlMove{Subject: bob, Kind: wire.EventTimedOut}, "system",
			map[string]string{"session": bob, "kind": "timed-out", "subject": f.bob}},
		{"lost for a reason: the system", ControlMove{Subject: ann, Kind: wire.EventReleased, Reason: "grant lowered to view"}, "system",
			map[string]string{"session": ann, "kind": "released", "subject": f.ann, "reason": "grant lowered to view"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, f.m.ControlMoved(ctx, f.org.ID, tc.move))
			recs := f.audits(t, store.AuditConsoleControl)
			require.NotEmpty(t, recs)
			last := recs[len(recs)-1]
			assert.Equal(t, tc.actor, last.Actor)
			assert.Equal(t, "device:"+f.device.ID, last.Target)
			assert.Equal(t, tc.details, last.Details)
		})
	}

	other, err := f.st.CreateOrganization(ctx, store.Organization{Name: "Other", Slug: "other"})
	require.NoError(t, err)
	assert.ErrorIs(t, f.m.ControlMoved(ctx, other.ID, ControlMove{Subject: bob, Kind: wire.EventRequested}), store.ErrNotFound,
		"another organization's session does not exist for it")
	var elsewhere store.Device
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		elsewhere, err = tx.CreateDevice(ctx, store.Device{Name: "rack-2"})
		return err
	}))
	far, err := f.m.Start(ctx, f.org.ID, f.bob, elsewhere.ID, wire.GrantControl)
	require.NoError(t, err)
	assert.ErrorIs(t, f.m.ControlMoved(ctx, f.org.ID, ControlMove{Subject: bob, Kind: wire.EventTaken, By: far.Session.ID}), ErrMismatch,
		"the acting session must be on the same machine")

	from := f.clk.Now().Add(-time.Minute)
	digest := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	require.NoError(t, f.m.InputSent(ctx, f.org.ID, InputBurst{Session: ann, From: from, To: from.Add(30 * time.Second),
		Keys: 42, Pointer: 7, Digest: digest, Final: true}))
	inputs := f.audits(t, store.AuditConsoleInput)
	require.Len(t, inputs, 1)
	assert.Equal(t, f.ann, inputs[0].Actor)
	assert.Equal(t, map[string]string{"session": ann, "from": from.UTC().Format(time.RFC3339Nano),
		"to": from.Add(30 * time.Second).UTC().Format(time.RFC3339Nano), "keys": "42", "pointer": "7", "digest": digest, "final": "true"},
		inputs[0].Details)
	_, err = f.st.VerifyAudit(ctx, f.org.ID)
	require.NoError(t, err)
}

// TestPrincipalName: what other participants of a machine are shown of a session's principal.
func TestPrincipalName(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for principal, want := range map[string]string{
		f.ann:                   "ann@acme.example",
		"oidc:alice@idp":        "alice@idp",
		"relay:ops":             "ops (kvmrelay token)",
		"user:" + store.NewID(): "", // a user gone: stays as stored
	} {
		got, err := f.m.PrincipalName(ctx, f.org.ID, principal)
		require.NoError(t, err)
		if want == "" {
			want = principal
		}
		assert.Equal(t, want, got, principal)
	}
}
