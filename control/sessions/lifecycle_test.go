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

// TestClosedByUser: the console's Disconnect (a signaling bye) stops the session at once,
// audited with the person as actor; it cannot reconnect, and a second bye changes nothing.
func TestClosedByUser(t *testing.T) {
	ctx := context.Background()
	f := newFixtureGrace(t, 45*time.Second)
	started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	c := f.consoleClaims(t, started)
	require.NoError(t, errOf(f.m.Admit(ctx, c)))

	require.NoError(t, f.m.Closed(ctx, c))
	got := f.session(t, c.Session)
	assert.Equal(t, store.SessionStopped, got.Current)
	assert.Equal(t, store.SessionStopped, got.Desired)
	assert.Equal(t, ReasonClosedByUser, got.Reason)
	assert.Equal(t, ReasonClosedByUser, f.cut.reason(c.Session))
	assert.ErrorIs(t, errOf(f.m.Admit(ctx, c)), ErrEnded, "a closed console does not come back")
	require.NoError(t, f.m.Closed(ctx, c), "a repeated bye is harmless")
	assert.Equal(t, ReasonClosedByUser, f.session(t, c.Session).Reason)

	var actors []string
	require.NoError(t, f.st.Read(ctx, f.org.ID, func(tx store.Tx) error {
		es, err := tx.Audit(ctx, 0, 10)
		for _, e := range es {
			if e.Record.Action == store.AuditConsoleStop {
				actors = append(actors, e.Record.Actor+": "+e.Record.Details["reason"])
			}
		}
		return err
	}))
	assert.Equal(t, []string{f.ann + ": " + ReasonClosedByUser}, actors, "one stop, by the person")

	other := c
	other.Subject = "user:mallory"
	assert.ErrorIs(t, f.m.Closed(ctx, other), ErrMismatch, "only the session's own token closes it")
}

// TestConsoleGoneAfterGrace: a console that left without a bye ends its session once the
// reconnect grace (counted from when it left) is over, decided by any node's reconciler from
// the store; one that reconnects within the grace, or stays connected, keeps it.
func TestConsoleGoneAfterGrace(t *testing.T) {
	const grace = 45 * time.Second
	cases := []struct {
		name string
		// connected: the console stays connected (again is signaling's periodic Check);
		// otherwise again is a reconnect (Admit).
		connected bool
		// run plays the console after it was admitted; the session is then reconciled.
		run  func(t *testing.T, f *fixture, again, left func() error)
		want store.SessionState
	}{
		{"tab closed, no reconnect", false, func(t *testing.T, f *fixture, _, left func() error) {
			f.clk.Add(30 * time.Second) // connected (and checked) for a while, then gone
			require.NoError(t, left())
			f.clk.Add(grace)
		}, store.SessionStopped},
		{"reconnects within the grace", false, func(t *testing.T, f *fixture, admit, left func() error) {
			require.NoError(t, left())
			f.clk.Add(grace - time.Second)
			require.NoError(t, admit())
			f.clk.Add(grace - time.Second)
		}, store.SessionActive},
		{"stays connected", true, func(t *testing.T, f *fixture, check, _ func() error) {
			for i := 0; i < 10; i++ {
				f.clk.Add(15 * time.Second) // signaling's session check interval
				require.NoError(t, check())
			}
		}, store.SessionActive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixtureGrace(t, grace)
			started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
			require.NoError(t, err)
			c := f.consoleClaims(t, started)
			require.NoError(t, errOf(f.m.Admit(ctx, c)))
			again := func() error { return errOf(f.m.Admit(ctx, c)) }
			if tc.connected {
				again = func() error { return errOf(f.m.Check(ctx, c)) }
			}
			tc.run(t, f, again, func() error { return f.m.Left(ctx, c) })

			// Another node's reconciler (a manager of its own on the same store) decides.
			require.NoError(t, f.manager(t).ReconcileAll(ctx))
			got := f.session(t, c.Session)
			assert.Equal(t, tc.want, got.Current)
			if tc.want == store.SessionStopped {
				assert.Equal(t, ReasonConsoleGone, got.Reason)
				assert.Equal(t, ReasonConsoleGone, f.cut.reason(c.Session))
			}
		})
	}
}

// TestLinkNeverOpenedUnchanged: a short reconnect grace does not touch a link still waiting
// to be opened; it expires after LinkTTL as before.
func TestLinkNeverOpenedUnchanged(t *testing.T) {
	ctx := context.Background()
	f := newFixtureGrace(t, 45*time.Second)
	started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	f.clk.Add(5 * time.Minute)
	require.NoError(t, f.m.ReconcileAll(ctx))
	assert.Equal(t, store.SessionRequested, f.session(t, started.Session.ID).Current)
	f.clk.Add(5 * time.Minute)
	require.NoError(t, f.m.ReconcileAll(ctx))
	got := f.session(t, started.Session.ID)
	assert.Equal(t, store.SessionError, got.Current)
	assert.Equal(t, "the console never connected", got.Reason)
}
