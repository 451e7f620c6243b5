package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// testDirectory: every public identifier a Create method takes is resolvable to its
// organization, a key can belong to one organization only, and unknown keys are ErrNotFound.
func testDirectory(t *testing.T, b Backend) {
	ctx := ctxT(t)
	a := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Other")
	d := mustDevice(t, b.Store, a.ID, "rack-1")
	u := mustUser(t, b.Store, a.ID, "ann@example.com")
	write(t, b.Store, a.ID, func(tx store.Tx) error {
		if _, err := tx.CreateAPIKey(ctx, store.APIKey{Prefix: "pfx1", Hash: "h", Role: store.RoleViewer, CreatedAt: epoch}); err != nil {
			return err
		}
		if err := tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "enroll-h", DeviceID: d.ID, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.CreateRefreshToken(ctx, store.RefreshToken{Hash: "refresh-h", FamilyID: store.NewID(), UserID: u.ID, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)}); err != nil {
			return err
		}
		_, err := tx.CreateInvitation(ctx, store.Invitation{Email: "bob@example.com", Role: store.RoleViewer, TokenHash: "invite-h", InvitedBy: "user:" + u.ID, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
		return err
	})
	for _, c := range []struct {
		kind store.LookupKind
		key  string
	}{
		{store.LookupOrgSlug, a.Slug}, {store.LookupDevice, d.ID}, {store.LookupAPIKey, "pfx1"},
		{store.LookupEnrollment, "enroll-h"}, {store.LookupRefresh, "refresh-h"}, {store.LookupInvite, "invite-h"},
	} {
		got, err := b.Store.Lookup(ctx, c.kind, c.key)
		require.NoError(t, err, "%s %s", c.kind, c.key)
		assert.Equal(t, a.ID, got, "%s %s", c.kind, c.key)
		_, err = b.Store.Lookup(ctx, c.kind, c.key+"-unknown")
		assert.ErrorIs(t, err, store.ErrNotFound, "%s unknown", c.kind)
	}
	got, err := b.Store.Lookup(ctx, store.LookupOrgSlug, other.Slug)
	require.NoError(t, err)
	assert.Equal(t, other.ID, got)
	_, err = b.Store.Lookup(ctx, store.LookupDevice, "")
	assert.ErrorIs(t, err, store.ErrNotFound)

	// A slug is unique across the deployment; the failed create leaves nothing behind.
	_, err = b.Store.CreateOrganization(ctx, store.Organization{Name: "Copy", Slug: a.Slug, CreatedAt: epoch})
	assert.ErrorIs(t, err, store.ErrConflict)
	// So is an API key prefix, across tenants.
	err = b.Store.Write(ctx, other.ID, func(tx store.Tx) error {
		_, err := tx.CreateAPIKey(ctx, store.APIKey{Prefix: "pfx1", Hash: "h2", Role: store.RoleViewer})
		return err
	})
	assert.ErrorIs(t, err, store.ErrConflict)
	for _, bad := range []string{"", "-a", "a-", "UPPER", "sp ace", "ü", string(make([]byte, 64))} {
		_, err = b.Store.CreateOrganization(ctx, store.Organization{Name: "x", Slug: bad})
		assert.ErrorIs(t, err, store.ErrInvalid, "slug %q", bad)
	}

	ids, err := b.Store.OrganizationIDs(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{a.ID, other.ID}, ids)
}

// testAccountFields: MFA state, scope and failure counting round-trip; UpdateUser leaves the
// failure counter to its own methods.
func testAccountFields(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	u := mustUser(t, b.Store, o.ID, "ann@example.com")
	assert.Equal(t, map[string]string{}, u.Scope)

	var counts []int
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		for i := 0; i < 3; i++ {
			n, err := tx.RecordLoginFailure(ctx, u.ID, epoch.Add(time.Duration(i)*time.Second))
			if err != nil {
				return err
			}
			counts = append(counts, n)
		}
		return nil
	})
	assert.Equal(t, []int{1, 2, 3}, counts)

	u.TOTPSecret, u.TOTPConfirmed, u.TOTPLastStep, u.Scope = "JBSWY3DPEHPK3PXP", true, 59_000_000, map[string]string{"site": "fra1"}
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.UpdateUser(ctx, u) })
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.User(ctx, u.ID)
		require.NoError(t, err)
		assert.True(t, got.TOTPConfirmed)
		assert.Equal(t, int64(59_000_000), got.TOTPLastStep)
		assert.Equal(t, map[string]string{"site": "fra1"}, got.Scope)
		assert.Equal(t, 3, got.FailedLogins, "UpdateUser keeps the failure count")
		require.NotNil(t, got.LastFailedAt)
		assert.Equal(t, us(epoch.Add(2*time.Second)), *got.LastFailedAt)
		return nil
	}))
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.ResetLoginFailures(ctx, u.ID) })
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.User(ctx, u.ID)
		require.NoError(t, err)
		assert.Zero(t, got.FailedLogins)
		return nil
	}))
	err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error { _, err := tx.RecordLoginFailure(ctx, store.NewID(), epoch); return err })
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// testRecoveryCodes: each code works once; replacing drops the old set.
func testRecoveryCodes(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	u := mustUser(t, b.Store, o.ID, "ann@example.com")
	v := mustUser(t, b.Store, o.ID, "vic@example.com")
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.ReplaceRecoveryCodes(ctx, u.ID, []string{"c1", "c2"}) })
	use := func(user, code string) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error { return tx.UseRecoveryCode(ctx, user, code, epoch) })
	}
	require.NoError(t, use(u.ID, "c1"))
	assert.ErrorIs(t, use(u.ID, "c1"), store.ErrTokenInvalid, "a code works once")
	assert.ErrorIs(t, use(v.ID, "c2"), store.ErrTokenInvalid, "another user's code")
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.ReplaceRecoveryCodes(ctx, u.ID, []string{"c3"}) })
	assert.ErrorIs(t, use(u.ID, "c2"), store.ErrTokenInvalid, "replaced codes are gone")
	require.NoError(t, use(u.ID, "c3"))
}

// testInvitations: accepted once, even under a race; expired ones are refused.
func testInvitations(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		for _, c := range []struct {
			hash string
			exp  time.Time
		}{{"live", epoch.Add(time.Hour)}, {"old", epoch.Add(-time.Second)}} {
			if _, err := tx.CreateInvitation(ctx, store.Invitation{Email: c.hash + "@example.com", Role: store.RoleOperator,
				Scope: map[string]string{"site": "fra1"}, TokenHash: c.hash, InvitedBy: "user:x", CreatedAt: epoch.Add(-time.Hour), ExpiresAt: c.exp}); err != nil {
				return err
			}
		}
		return nil
	})
	var wins, losses int
	var mu sync.Mutex
	var wg sync.WaitGroup
	inst := b.Open(t)
	for i := 0; i < 8; i++ {
		s := b.Store
		if i%2 == 1 {
			s = inst
		}
		wg.Go(func() {
			err := s.Write(ctx, o.ID, func(tx store.Tx) error {
				inv, err := tx.AcceptInvitation(ctx, "live", epoch)
				if err == nil {
					assert.Equal(t, store.RoleOperator, inv.Role)
					assert.Equal(t, map[string]string{"site": "fra1"}, inv.Scope)
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else {
				assert.ErrorIs(t, err, store.ErrTokenInvalid)
				losses++
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, wins)
	assert.Equal(t, 7, losses)
	err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error { _, err := tx.AcceptInvitation(ctx, "old", epoch); return err })
	assert.ErrorIs(t, err, store.ErrTokenInvalid, "expired")
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		invs, err := tx.Invitations(ctx)
		require.NoError(t, err)
		require.Len(t, invs, 2)
		return nil
	}))
}

// testDeviceUpdateAndSessionActivity: names and labels change; sessions list per device, newest
// first, and only live sessions take activity.
func testDeviceUpdateAndSessionActivity(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	d := mustDevice(t, b.Store, o.ID, "rack-1")
	d.Name, d.Labels = "rack-2", map[string]string{"site": "fra1"}
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.UpdateDevice(ctx, d) })
	var s1, s2 store.ConsoleSession
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		got, err := tx.Device(ctx, d.ID)
		require.NoError(t, err)
		assert.Equal(t, "rack-2", got.Name)
		assert.Equal(t, map[string]string{"site": "fra1"}, got.Labels)
		s1, err = tx.CreateSession(ctx, store.ConsoleSession{DeviceID: d.ID, Principal: "user:a", CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
		if err != nil {
			return err
		}
		s2, err = tx.CreateSession(ctx, store.ConsoleSession{DeviceID: d.ID, Principal: "user:a", CreatedAt: epoch.Add(time.Minute), ExpiresAt: epoch.Add(time.Hour)})
		if err != nil {
			return err
		}
		if err := tx.TouchSession(ctx, s1.ID, epoch.Add(2*time.Minute)); err != nil {
			return err
		}
		_, err = tx.TransitionSession(ctx, s2.ID, store.SessionIdle, store.SessionStopped, "test", epoch.Add(3*time.Minute))
		return err
	})
	err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error { return tx.TouchSession(ctx, s2.ID, epoch.Add(4*time.Minute)) })
	assert.ErrorIs(t, err, store.ErrNotFound, "a stopped session takes no activity")
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		list, err := tx.SessionsForDevice(ctx, d.ID, 10)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, s2.ID, list[0].ID, "newest first")
		require.NotNil(t, list[1].LastActivity)
		assert.Equal(t, us(epoch.Add(2*time.Minute)), *list[1].LastActivity)
		assert.Nil(t, list[0].LastActivity)
		one, err := tx.SessionsForDevice(ctx, d.ID, 1)
		require.NoError(t, err)
		assert.Len(t, one, 1)
		return nil
	}))
}
