package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// testSpendOnce: a single-use value is spent once across two store instances (two relay
// nodes) under a race; kinds and tenants are separate; pruning forgets only expired values.
func testSpendOnce(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Other")
	inst := b.Open(t)
	spend := func(s store.Store, org string, kind store.SpendKind, key string, exp time.Time) error {
		return s.Write(ctx, org, func(tx store.Tx) error { return tx.Spend(ctx, kind, key, exp) })
	}

	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		s := b.Store
		if i%2 == 1 {
			s = inst
		}
		wg.Go(func() {
			err := spend(s, o.ID, store.SpendConsoleLink, "link-1", epoch.Add(time.Hour))
			if err == nil {
				wins.Add(1)
				return
			}
			assert.ErrorIs(t, err, store.ErrTokenReused)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load(), "exactly one of eight spends succeeds")

	require.NoError(t, spend(b.Store, o.ID, store.SpendProofNonce, "link-1", epoch.Add(time.Hour)), "another kind is another value")
	require.NoError(t, spend(b.Store, other.ID, store.SpendConsoleLink, "link-1", epoch.Add(time.Hour)), "another tenant's value")
	assert.ErrorIs(t, spend(b.Store, o.ID, "bogus", "x", epoch), store.ErrInvalid)
	assert.ErrorIs(t, spend(b.Store, o.ID, store.SpendConsoleLink, "", epoch), store.ErrInvalid)

	require.NoError(t, spend(b.Store, o.ID, store.SpendConsoleLink, "old", epoch.Add(-time.Minute)))
	var pruned int64
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		pruned, err = tx.PruneSpent(ctx, epoch)
		return err
	})
	assert.Equal(t, int64(1), pruned, "only the expired value of this tenant")
	assert.ErrorIs(t, spend(b.Store, o.ID, store.SpendConsoleLink, "link-1", epoch.Add(time.Hour)), store.ErrTokenReused,
		"a live value stays spent after pruning")
}

// testPasswordResets: a reset is found through the directory, works once under a race, and
// not when expired or when its user is disabled.
func testPasswordResets(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	u := mustUser(t, b.Store, o.ID, "ann@example.com")
	v := mustUser(t, b.Store, o.ID, "vic@example.com")
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		for _, r := range []store.PasswordReset{
			{TokenHash: "live", UserID: u.ID, ExpiresAt: epoch.Add(time.Hour)},
			{TokenHash: "old", UserID: u.ID, ExpiresAt: epoch.Add(-time.Second)},
			{TokenHash: "disabled", UserID: v.ID, ExpiresAt: epoch.Add(time.Hour)},
		} {
			r.CreatedBy, r.CreatedAt = "user:admin", epoch.Add(-time.Hour)
			if err := tx.CreatePasswordReset(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	org, err := b.Store.Lookup(ctx, store.LookupReset, "live")
	require.NoError(t, err)
	assert.Equal(t, o.ID, org)

	consume := func(s store.Store, hash string) (store.PasswordReset, error) {
		var r store.PasswordReset
		err := s.Write(ctx, o.ID, func(tx store.Tx) error {
			var err error
			r, err = tx.ConsumePasswordReset(ctx, hash, epoch)
			return err
		})
		return r, err
	}
	inst := b.Open(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		s := b.Store
		if i%2 == 1 {
			s = inst
		}
		wg.Go(func() {
			r, err := consume(s, "live")
			if err == nil {
				wins.Add(1)
				assert.Equal(t, u.ID, r.UserID)
				assert.Equal(t, "user:admin", r.CreatedBy)
				require.NotNil(t, r.UsedAt)
				return
			}
			assert.ErrorIs(t, err, store.ErrTokenInvalid)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())

	_, err = consume(b.Store, "old")
	assert.ErrorIs(t, err, store.ErrTokenInvalid, "expired")
	v.Disabled = true
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.UpdateUser(ctx, v) })
	_, err = consume(b.Store, "disabled")
	assert.ErrorIs(t, err, store.ErrTokenInvalid, "a disabled user's reset")
	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		return tx.CreatePasswordReset(ctx, store.PasswordReset{TokenHash: "x", UserID: store.NewID(), CreatedBy: "user:admin",
			CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
	})
	assert.ErrorIs(t, err, store.ErrNotFound, "a reset for a user of no organization")
}

// testUserSessionCutoff: the access-token cut-off round-trips, and revoking a user's refresh
// tokens revokes every family of that user and nobody else's.
func testUserSessionCutoff(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	u := mustUser(t, b.Store, o.ID, "ann@example.com")
	v := mustUser(t, b.Store, o.ID, "vic@example.com")
	assert.Nil(t, u.TokensValidAfter)
	cut := epoch.Add(time.Minute)
	u.TokensValidAfter = &cut
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.UpdateUser(ctx, u) })

	write(t, b.Store, o.ID, func(tx store.Tx) error {
		for i, rt := range []store.RefreshToken{
			{Hash: "u1", FamilyID: store.NewID(), UserID: u.ID},
			{Hash: "u2", FamilyID: store.NewID(), UserID: u.ID},
			{Hash: "v1", FamilyID: store.NewID(), UserID: v.ID},
		} {
			rt.CreatedAt, rt.ExpiresAt = epoch, epoch.Add(time.Duration(i+1)*time.Hour)
			if err := tx.CreateRefreshToken(ctx, rt); err != nil {
				return err
			}
		}
		return tx.RevokeUserRefreshTokens(ctx, u.ID, epoch)
	})
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.User(ctx, u.ID)
		require.NoError(t, err)
		require.NotNil(t, got.TokensValidAfter)
		assert.Equal(t, us(cut), *got.TokensValidAfter)
		return nil
	}))
	rotate := func(old string) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			return tx.RotateRefreshToken(ctx, old, store.RefreshToken{Hash: old + "-next", CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
		})
	}
	assert.ErrorIs(t, rotate("u1"), store.ErrTokenReused, "revoked")
	assert.ErrorIs(t, rotate("u2"), store.ErrTokenReused, "revoked, other family")
	assert.NoError(t, rotate("v1"), "another user's token is untouched")
}
