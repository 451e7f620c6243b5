package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func newSession(t *testing.T, b Backend, org, device string) store.ConsoleSession {
	t.Helper()
	var s store.ConsoleSession
	write(t, b.Store, org, func(tx store.Tx) error {
		var err error
		s, err = tx.CreateSession(ctxT(t), store.ConsoleSession{DeviceID: device, Principal: "user:ann", Desired: store.SessionActive,
			CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
		return err
	})
	return s
}

func testSessionTransitions(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	d := mustDevice(t, b.Store, o.ID, "rack-1")
	type step struct {
		from, to store.SessionState
		want     error
	}
	cases := []struct {
		name  string
		steps []step
		final store.SessionState
	}{
		{"happy path", []step{{store.SessionIdle, store.SessionRequested, nil}, {store.SessionRequested, store.SessionActive, nil}, {store.SessionActive, store.SessionStopped, nil}}, store.SessionStopped},
		{"error while requested", []step{{store.SessionIdle, store.SessionRequested, nil}, {store.SessionRequested, store.SessionError, nil}}, store.SessionError},
		{"skip requested", []step{{store.SessionIdle, store.SessionActive, store.ErrInvalidTransition}}, store.SessionIdle},
		{"backwards", []step{{store.SessionIdle, store.SessionRequested, nil}, {store.SessionRequested, store.SessionIdle, store.ErrInvalidTransition}}, store.SessionRequested},
		{"out of a final state", []step{{store.SessionIdle, store.SessionStopped, nil}, {store.SessionStopped, store.SessionActive, store.ErrInvalidTransition}}, store.SessionStopped},
		{"unknown state", []step{{store.SessionIdle, "PAUSED", store.ErrInvalidTransition}}, store.SessionIdle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, b, o.ID, d.ID)
			assert.Equal(t, store.SessionIdle, s.Current)
			at := epoch
			for _, st := range tc.steps {
				at = at.Add(time.Second)
				err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
					_, err := tx.TransitionSession(ctx, s.ID, st.from, st.to, "because", at)
					return err
				})
				if st.want != nil {
					require.ErrorIs(t, err, st.want, "%s → %s", st.from, st.to)
				} else {
					require.NoError(t, err, "%s → %s", st.from, st.to)
				}
			}
			require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
				got, err := tx.Session(ctx, s.ID)
				require.NoError(t, err)
				assert.Equal(t, tc.final, got.Current)
				assert.Equal(t, store.SessionActive, got.Desired)
				assert.Equal(t, tc.final.Final(), got.EndedAt != nil)
				return nil
			}))
		})
	}
}

func testSessionCAS(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	d := mustDevice(t, b.Store, o.ID, "rack-1")
	s := newSession(t, b, o.ID, d.ID)
	transition := func(from, to store.SessionState, at time.Time) (store.ConsoleSession, error) {
		var got store.ConsoleSession
		err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			var err error
			got, err = tx.TransitionSession(ctx, s.ID, from, to, "", at)
			return err
		})
		return got, err
	}
	_, err := transition(store.SessionIdle, store.SessionRequested, epoch.Add(time.Second))
	require.NoError(t, err)
	_, err = transition(store.SessionIdle, store.SessionRequested, epoch.Add(2*time.Second))
	assert.ErrorIs(t, err, store.ErrConflict, "a second reconciler lost the race")
	got, err := transition(store.SessionRequested, store.SessionActive, epoch.Add(3*time.Second))
	require.NoError(t, err)
	require.NotNil(t, got.StartedAt)
	assert.Equal(t, us(epoch.Add(3*time.Second)), *got.StartedAt)
	assert.Nil(t, got.EndedAt)

	write(t, b.Store, o.ID, func(tx store.Tx) error {
		return tx.SetSessionDesired(ctx, s.ID, store.SessionStopped, epoch.Add(4*time.Second))
	})
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		live, err := tx.SessionsToReconcile(ctx)
		require.NoError(t, err)
		require.Len(t, live, 1)
		assert.Equal(t, store.SessionStopped, live[0].Desired)
		return nil
	}))
	got, err = transition(store.SessionActive, store.SessionError, epoch.Add(5*time.Second))
	require.NoError(t, err)
	require.NotNil(t, got.EndedAt)
	assert.Equal(t, us(epoch.Add(3*time.Second)), *got.StartedAt, "started_at survives")
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		live, err := tx.SessionsToReconcile(ctx)
		require.NoError(t, err)
		assert.Empty(t, live)
		return nil
	}))
	_, err = transition(store.SessionIdle, store.SessionRequested, epoch)
	assert.ErrorIs(t, err, store.ErrConflict)
	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.TransitionSession(ctx, store.NewID(), store.SessionIdle, store.SessionRequested, "", epoch)
		return err
	})
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// A session waits for consent with its window recorded, goes back to ACTIVE (the window
// cleared, started_at kept) or fails; CONSENT_REQUIRED is entered only through
// RequireConsent.
func testSessionConsent(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	d := mustDevice(t, b.Store, o.ID, "rack-1")
	s := newSession(t, b, o.ID, d.ID)
	step := func(fn func(tx store.Tx) (store.ConsoleSession, error)) (store.ConsoleSession, error) {
		var got store.ConsoleSession
		err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			var err error
			got, err = fn(tx)
			return err
		})
		return got, err
	}
	at := epoch.Add(time.Second)
	_, err := step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.TransitionSession(ctx, s.ID, store.SessionIdle, store.SessionRequested, "", at)
	})
	require.NoError(t, err)
	_, err = step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.TransitionSession(ctx, s.ID, store.SessionRequested, store.SessionConsentRequired, "", at)
	})
	require.ErrorIs(t, err, store.ErrInvalidTransition, "consent has its own transition, with its window")
	got, err := step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.TransitionSession(ctx, s.ID, store.SessionRequested, store.SessionActive, "", at)
	})
	require.NoError(t, err)
	started := *got.StartedAt

	window := epoch.Add(5 * time.Minute)
	got, err = step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.RequireConsent(ctx, s.ID, store.SessionActive, "enter the code", window, epoch.Add(2*time.Second))
	})
	require.NoError(t, err)
	assert.Equal(t, store.SessionConsentRequired, got.Current)
	assert.Equal(t, "enter the code", got.Reason)
	require.NotNil(t, got.ConsentExpiresAt)
	assert.Equal(t, us(window), *got.ConsentExpiresAt)
	_, err = step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.RequireConsent(ctx, s.ID, store.SessionActive, "", window, epoch.Add(2*time.Second))
	})
	assert.ErrorIs(t, err, store.ErrConflict, "no longer ACTIVE")
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		live, err := tx.SessionsToReconcile(ctx)
		require.NoError(t, err)
		require.Len(t, live, 1, "a session waiting for consent is live")
		assert.Equal(t, store.SessionConsentRequired, live[0].Current)
		return nil
	}))

	got, err = step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.TransitionSession(ctx, s.ID, store.SessionConsentRequired, store.SessionActive, "", epoch.Add(3*time.Second))
	})
	require.NoError(t, err)
	assert.Nil(t, got.ConsentExpiresAt, "the window closes with consent given")
	assert.Equal(t, us(started), *got.StartedAt, "started_at is the first start")

	_, err = step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.RequireConsent(ctx, s.ID, store.SessionActive, "enter the code", window, epoch.Add(4*time.Second))
	})
	require.NoError(t, err)
	got, err = step(func(tx store.Tx) (store.ConsoleSession, error) {
		return tx.TransitionSession(ctx, s.ID, store.SessionConsentRequired, store.SessionError, "consent expired", epoch.Add(5*time.Second))
	})
	require.NoError(t, err)
	assert.Nil(t, got.ConsentExpiresAt)
	assert.Equal(t, "consent expired", got.Reason)
}
