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

// A machine asks for consent: the live session waits in CONSENT_REQUIRED with its window, a
// repeated report changes nothing, a code entered is audited without the code, acceptance
// brings it back to ACTIVE; on another session the window runs out (the reconciler's ERROR)
// or the request is cancelled (ERROR, console cut). Every step is in the audit chain.
func TestConsent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	c := f.consoleClaims(t, started)
	require.NoError(t, errOf(f.m.Admit(ctx, c)))
	sid := started.Session.ID

	window := f.clk.Now().Add(5 * time.Minute)
	require.NoError(t, f.m.ConsentRequired(ctx, f.org.ID, sid, window))
	s := f.session(t, sid)
	assert.Equal(t, store.SessionConsentRequired, s.Current)
	assert.Equal(t, ReasonConsentRequired, s.Reason)
	require.NotNil(t, s.ConsentExpiresAt)
	assert.True(t, window.Equal(*s.ConsentExpiresAt))
	require.NoError(t, f.m.ConsentRequired(ctx, f.org.ID, sid, window.Add(time.Hour)), "a repeated report")
	assert.True(t, window.Equal(*f.session(t, sid).ConsentExpiresAt), "keeps the window")
	require.NoError(t, errOf(f.m.Check(ctx, c)), "a console waiting for consent stays connected")

	require.NoError(t, f.m.ConsentCodeEntered(ctx, f.org.ID, sid, f.ann, false))
	require.NoError(t, f.m.ConsentAccepted(ctx, f.org.ID, sid, 2))
	s = f.session(t, sid)
	assert.Equal(t, store.SessionActive, s.Current)
	assert.Nil(t, s.ConsentExpiresAt)

	// Another session: the window runs out.
	second, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	require.NoError(t, errOf(f.m.Admit(ctx, f.consoleClaims(t, second))))
	require.NoError(t, f.m.ConsentRequired(ctx, f.org.ID, second.Session.ID, f.clk.Now().Add(time.Minute)))
	f.clk.Add(time.Minute)
	require.NoError(t, f.m.Reconcile(ctx, f.org.ID))
	s = f.session(t, second.Session.ID)
	assert.Equal(t, store.SessionError, s.Current)
	assert.Equal(t, ReasonConsentExpired, s.Reason)
	assert.Equal(t, ReasonConsentExpired, f.cut.reason(second.Session.ID), "its console is told why")

	// A third: cancelled.
	third, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	require.NoError(t, errOf(f.m.Admit(ctx, f.consoleClaims(t, third))))
	require.NoError(t, f.m.ConsentRequired(ctx, f.org.ID, third.Session.ID, f.clk.Now().Add(time.Minute)))
	require.NoError(t, f.m.ConsentCodeEntered(ctx, f.org.ID, third.Session.ID, f.ann, true))
	require.NoError(t, f.m.ConsentFailed(ctx, f.org.ID, third.Session.ID, "cancelled", ReasonConsentCancelled))
	assert.Equal(t, store.SessionError, f.session(t, third.Session.ID).Current)
	assert.Equal(t, ReasonConsentCancelled, f.cut.reason(third.Session.ID))

	var steps []string
	require.NoError(t, f.st.Read(ctx, f.org.ID, func(tx store.Tx) error {
		entries, err := tx.Audit(ctx, 0, 100)
		for _, e := range entries {
			if e.Record.Action == store.AuditConsoleConsent {
				steps = append(steps, e.Record.Details["step"])
				assert.NotContains(t, e.Record.Details, "code", "the code itself is never recorded")
			}
		}
		return err
	}))
	assert.Equal(t, []string{"asked", "code entered", "accepted", "asked", "expired", "asked", "cancel requested", "cancelled"}, steps)
	n, err := f.st.VerifyAudit(ctx, f.org.ID)
	require.NoError(t, err)
	assert.Positive(t, n)
}

// The relay bounds the window an agent's clock gives, and a consent failure leaves a session
// that is not waiting for consent alone.
func TestConsentWindowBoundsAndFailureScope(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	require.NoError(t, errOf(f.m.Admit(ctx, f.consoleClaims(t, started))))
	sid := started.Session.ID

	require.NoError(t, f.m.ConsentFailed(ctx, f.org.ID, sid, "cancelled", ReasonConsentCancelled))
	assert.Equal(t, store.SessionActive, f.session(t, sid).Current, "an ACTIVE session is not ended by another's cancel")

	require.NoError(t, f.m.ConsentRequired(ctx, f.org.ID, sid, f.clk.Now().Add(-time.Hour)))
	s := f.session(t, sid)
	require.NotNil(t, s.ConsentExpiresAt)
	assert.True(t, s.ConsentExpiresAt.Equal(f.clk.Now().Add(minConsentWindow)), "a window already past (an agent clock behind) gets the minimum")
	require.NoError(t, f.m.ConsentFailed(ctx, f.org.ID, sid, "cancelled", ReasonConsentCancelled))

	second, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	require.NoError(t, errOf(f.m.Admit(ctx, f.consoleClaims(t, second))))
	require.NoError(t, f.m.ConsentRequired(ctx, f.org.ID, second.Session.ID, f.clk.Now().Add(24*time.Hour)))
	assert.True(t, f.session(t, second.Session.ID).ConsentExpiresAt.Equal(f.clk.Now().Add(maxConsentWindow)), "a window a day away gets the maximum")
}
