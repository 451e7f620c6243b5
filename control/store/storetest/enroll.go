package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func testEnrollmentTokens(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	d := mustDevice(t, b.Store, o.ID, "rack-1")
	gone := mustDevice(t, b.Store, o.ID, "rack-2")
	exp := epoch.Add(time.Hour)
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		for _, tok := range []store.EnrollmentToken{
			{Hash: "good", DeviceID: d.ID, CreatedAt: epoch, ExpiresAt: exp},
			{Hash: "expired", DeviceID: d.ID, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Second)},
			{Hash: "revoked-device", DeviceID: gone.ID, CreatedAt: epoch, ExpiresAt: exp},
		} {
			if err := tx.CreateEnrollmentToken(ctx, tok); err != nil {
				return err
			}
		}
		return tx.RevokeDevice(ctx, gone.ID, epoch)
	})
	consume := func(hash string) (store.EnrollmentToken, error) {
		var tok store.EnrollmentToken
		err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			var err error
			tok, err = tx.ConsumeEnrollmentToken(ctx, hash, epoch.Add(time.Minute))
			return err
		})
		return tok, err
	}
	tok, err := consume("good")
	require.NoError(t, err)
	assert.Equal(t, d.ID, tok.DeviceID)
	assert.Equal(t, us(exp), tok.ExpiresAt)
	require.NotNil(t, tok.UsedAt)
	assert.Equal(t, us(epoch.Add(time.Minute)), *tok.UsedAt)

	for _, hash := range []string{"good", "expired", "revoked-device", "", "goo", "unknown"} {
		t.Run("refused "+hash, func(t *testing.T) {
			_, err := consume(hash)
			assert.ErrorIs(t, err, store.ErrTokenInvalid)
		})
	}
	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		return tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "good", DeviceID: d.ID, ExpiresAt: exp})
	})
	assert.ErrorIs(t, err, store.ErrConflict, "a token hash is unique")
}

// testEnrollmentConcurrent races consumers of one token across two store instances.
func testEnrollmentConcurrent(t *testing.T, b Backend) {
	ctx := ctxT(t)
	other := b.Open(t)
	o := newOrg(t, b.Store, "Acme")
	d := mustDevice(t, b.Store, o.ID, "rack-1")
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		return tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "once", DeviceID: d.ID, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
	})
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		s := b.Store
		if i%2 == 1 {
			s = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, o.ID, func(tx store.Tx) error {
				_, err := tx.ConsumeEnrollmentToken(ctx, "once", epoch.Add(time.Minute))
				return err
			})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		assert.ErrorIs(t, err, store.ErrTokenInvalid)
	}
	assert.Equal(t, 1, ok, "exactly one consumer wins")
}
