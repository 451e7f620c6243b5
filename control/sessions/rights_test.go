package sessions

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// lower sets a fixture user's role in the store, as a change made without telling this
// manager (another node, a missed event).
func (f *fixture) lower(t *testing.T, principal string, role store.Role) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		u, err := tx.User(ctx, strings.TrimPrefix(principal, "user:"))
		if err != nil {
			return err
		}
		u.Role = role
		return tx.UpdateUser(ctx, u)
	}))
}

// TestReauthorize: after a change of rights, every live session (connected or a link not yet
// opened) whose principal lost its right is stopped with the reason, audited as the change's
// actor, and cut; a session whose principal keeps a console with another grant (an operator
// lowered to viewer) is re-granted at once, not stopped; the others are left alone.
func TestReauthorize(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testReauthorize(t, newFixture(t)) })
	t.Run("postgres", func(t *testing.T) { testReauthorize(t, newFixtureOn(t, postgresStore(t), 10*time.Minute)) })
}

func testReauthorize(t *testing.T, f *fixture) {
	ctx := context.Background()
	live, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	liveClaims := f.consoleClaims(t, live)
	grant, err := f.m.Admit(ctx, liveClaims)
	require.NoError(t, err)
	assert.Equal(t, wire.GrantControl, grant)
	unopened, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	kept, err := f.m.Start(ctx, f.org.ID, f.bob, f.device.ID, wire.GrantControl)
	require.NoError(t, err)

	n, err := f.m.Reauthorize(ctx, f.org.ID, "user:admin")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing changed")
	assert.Equal(t, []wire.Grant{wire.GrantControl}, f.grants.of(live.Session.ID), "the connected session's grant, unchanged (signaling drops it)")

	f.lower(t, f.ann, store.RoleViewer)
	n, err = f.m.Reauthorize(ctx, f.org.ID, "user:admin")
	require.NoError(t, err)
	assert.Zero(t, n, "a viewer keeps watching")
	assert.Equal(t, []wire.Grant{wire.GrantView}, f.grants.of(live.Session.ID), "re-granted at once")
	assert.Empty(t, f.grants.of(unopened.Session.ID), "a link not yet opened is admitted with the grant of its moment")
	assert.Empty(t, f.grants.of(kept.Session.ID))
	assert.Equal(t, store.SessionActive, f.session(t, live.Session.ID).Current)
	grant, err = f.m.Check(ctx, liveClaims)
	require.NoError(t, err)
	assert.Equal(t, wire.GrantView, grant, "the periodic check derives the same")
	grant, err = f.m.Admit(ctx, f.consoleClaims(t, unopened))
	require.NoError(t, err)
	assert.Equal(t, wire.GrantView, grant, "the link's token said control; the admission says what holds now")

	f.lower(t, f.ann, store.RoleAdmin)
	_, err = f.m.Reauthorize(ctx, f.org.ID, "user:admin")
	require.NoError(t, err)
	assert.Equal(t, []wire.Grant{wire.GrantAdmin}, f.grants.of(live.Session.ID), "raised: may take control now")

	f.lower(t, f.ann, store.RoleAuditor)
	n, err = f.m.Reauthorize(ctx, f.org.ID, "user:admin")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Empty(t, f.grants.of(live.Session.ID), "a stopped session is not re-granted")
	const reason = "your role (auditor) no longer allows consoles on rack-1"
	for _, s := range []Started{live, unopened} {
		got := f.session(t, s.Session.ID)
		assert.Equal(t, store.SessionStopped, got.Current)
		assert.Equal(t, reason, got.Reason)
		assert.Equal(t, reason, f.cut.reason(s.Session.ID), "cut with the reason")
		err := f.m.Redeemable(ctx, f.consoleClaims(t, s))
		assert.ErrorIs(t, err, ErrEnded)
		assert.Equal(t, reason, EndReason(err), "the link's refusal says why")
	}
	assert.Equal(t, store.SessionRequested, f.session(t, kept.Session.ID).Current, "bob keeps his")
	assert.Equal(t, []store.AuditAction{store.AuditConsoleStart, store.AuditConsoleStart, store.AuditConsoleStart,
		store.AuditConsoleStop, store.AuditConsoleStop}, f.actions(t))
}

// TestChecksRederiveRights: without the event (a change this manager did not hear of), the
// redeem check, the admission and the periodic check of a connected console each derive the
// rights anew, refuse with the reason, and stop the session.
func TestChecksRederiveRights(t *testing.T) {
	ctx := context.Background()
	const reason = "your role (auditor) no longer allows consoles on rack-1"
	for name, check := range map[string]func(m *Manager, f *fixture, s Started) error{
		"redeem": func(m *Manager, f *fixture, s Started) error { return m.Redeemable(ctx, f.consoleClaims(t, s)) },
		"admit":  func(m *Manager, f *fixture, s Started) error { return errOf(m.Admit(ctx, f.consoleClaims(t, s))) },
		"check": func(m *Manager, f *fixture, s Started) error {
			return errOf(m.Check(ctx, f.consoleClaims(t, s)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			s, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
			require.NoError(t, err)
			if name == "check" {
				require.NoError(t, errOf(f.m.Admit(ctx, f.consoleClaims(t, s))))
			}
			f.lower(t, f.ann, store.RoleAuditor)
			err = check(f.m, f, s)
			assert.ErrorIs(t, err, ErrNotAllowed)
			assert.Equal(t, reason, EndReason(err))
			got := f.session(t, s.Session.ID)
			assert.Equal(t, store.SessionStopped, got.Current, "the decision is recorded")
			assert.Equal(t, reason, got.Reason)
			assert.Equal(t, reason, f.cut.reason(s.Session.ID))
		})
	}
}
