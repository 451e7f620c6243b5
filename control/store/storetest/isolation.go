package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// tenantRows is one organization's worth of every kind of row.
type tenantRows struct {
	org     store.Organization
	user    store.User
	device  store.Device
	session store.ConsoleSession
	key     store.APIKey
	family  string
}

func seedTenant(t *testing.T, b Backend, name string) tenantRows {
	ctx := ctxT(t)
	r := tenantRows{org: newOrg(t, b.Store, name), family: store.NewID()}
	r.user = mustUser(t, b.Store, r.org.ID, "ann@"+name+".example")
	r.device = mustDevice(t, b.Store, r.org.ID, "rack-"+name)
	r.session = newSession(t, b, r.org.ID, r.device.ID)
	write(t, b.Store, r.org.ID, func(tx store.Tx) error {
		var err error
		if r.key, err = tx.CreateAPIKey(ctx, store.APIKey{Prefix: "kvm_" + name, Hash: "h", Role: store.RoleAdmin, CreatedAt: epoch}); err != nil {
			return err
		}
		if err := tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "enroll-" + name, DeviceID: r.device.ID, ExpiresAt: epoch.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.CreateRefreshToken(ctx, store.RefreshToken{Hash: "refresh-" + name, FamilyID: r.family, UserID: r.user.ID, ExpiresAt: epoch.Add(time.Hour)}); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: epoch, Actor: "user:" + r.user.ID, Action: store.AuditLogin})
		return err
	})
	return r
}

// testTenantIsolation checks that through org A's transactions no method reads, changes or
// references org B's rows.
func testTenantIsolation(t *testing.T, b Backend) {
	ctx := ctxT(t)
	a, other := seedTenant(t, b, "a"), seedTenant(t, b, "b")
	// Everything below that touches B through A must fail; none may succeed.
	denied := map[string]func(tx store.Tx) error{
		"User":         func(tx store.Tx) error { _, err := tx.User(ctx, other.user.ID); return err },
		"UserByEmail":  func(tx store.Tx) error { _, err := tx.UserByEmail(ctx, other.user.Email); return err },
		"UpdateUser":   func(tx store.Tx) error { u := other.user; u.Role = store.RoleOwner; return tx.UpdateUser(ctx, u) },
		"Device":       func(tx store.Tx) error { _, err := tx.Device(ctx, other.device.ID); return err },
		"RevokeDevice": func(tx store.Tx) error { return tx.RevokeDevice(ctx, other.device.ID, epoch) },
		"DeviceSeen":   func(tx store.Tx) error { return tx.DeviceSeen(ctx, other.device.ID, epoch, "x", "x") },
		"ConsumeToken": func(tx store.Tx) error { _, err := tx.ConsumeEnrollmentToken(ctx, "enroll-b", epoch); return err },
		"TokenForBDevice": func(tx store.Tx) error {
			return tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "x", DeviceID: other.device.ID, ExpiresAt: epoch})
		},
		"Session": func(tx store.Tx) error { _, err := tx.Session(ctx, other.session.ID); return err },
		"SessionOnBDevice": func(tx store.Tx) error {
			_, err := tx.CreateSession(ctx, store.ConsoleSession{DeviceID: other.device.ID, Principal: "user:x"})
			return err
		},
		"SetDesired": func(tx store.Tx) error {
			return tx.SetSessionDesired(ctx, other.session.ID, store.SessionStopped, epoch)
		},
		"Transition": func(tx store.Tx) error {
			_, err := tx.TransitionSession(ctx, other.session.ID, store.SessionIdle, store.SessionStopped, "", epoch)
			return err
		},
		"RotateRefresh": func(tx store.Tx) error {
			return tx.RotateRefreshToken(ctx, "refresh-b", store.RefreshToken{Hash: "stolen", ExpiresAt: epoch.Add(time.Hour)})
		},
		"RefreshForBUser": func(tx store.Tx) error {
			return tx.CreateRefreshToken(ctx, store.RefreshToken{Hash: "y", FamilyID: store.NewID(), UserID: other.user.ID, ExpiresAt: epoch})
		},
		"APIKeyByPrefix": func(tx store.Tx) error { _, err := tx.APIKeyByPrefix(ctx, other.key.Prefix); return err },
		"RevokeAPIKey":   func(tx store.Tx) error { return tx.RevokeAPIKey(ctx, other.key.ID, epoch) },
	}
	for name, fn := range denied {
		t.Run(name, func(t *testing.T) {
			err := b.Store.Write(ctx, a.org.ID, fn)
			require.Error(t, err)
			assert.True(t, errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenInvalid), "got %v", err)
		})
	}
	// Lists through A hold only A's rows, and B's rows came through the attempts unchanged.
	require.NoError(t, b.Store.Read(ctx, a.org.ID, func(tx store.Tx) error {
		o, err := tx.Organization(ctx)
		require.NoError(t, err)
		assert.Equal(t, a.org.ID, o.ID)
		users, err := tx.Users(ctx)
		require.NoError(t, err)
		require.Len(t, users, 1)
		assert.Equal(t, a.user.ID, users[0].ID)
		devices, err := tx.Devices(ctx)
		require.NoError(t, err)
		require.Len(t, devices, 1)
		assert.Equal(t, a.device.ID, devices[0].ID)
		sessions, err := tx.SessionsToReconcile(ctx)
		require.NoError(t, err)
		require.Len(t, sessions, 1)
		assert.Equal(t, a.session.ID, sessions[0].ID)
		keys, err := tx.APIKeys(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		assert.Equal(t, a.key.ID, keys[0].ID)
		audit, err := tx.Audit(ctx, 0, 100)
		require.NoError(t, err)
		require.Len(t, audit, 1)
		assert.Equal(t, a.org.ID, audit[0].OrgID)
		return nil
	}))
	require.NoError(t, b.Store.Read(ctx, other.org.ID, func(tx store.Tx) error {
		u, err := tx.User(ctx, other.user.ID)
		require.NoError(t, err)
		assert.Equal(t, other.user, u)
		d, err := tx.Device(ctx, other.device.ID)
		require.NoError(t, err)
		assert.Nil(t, d.RevokedAt)
		s, err := tx.Session(ctx, other.session.ID)
		require.NoError(t, err)
		assert.Equal(t, store.SessionIdle, s.Current)
		k, err := tx.APIKeyByPrefix(ctx, other.key.Prefix)
		require.NoError(t, err)
		assert.Nil(t, k.RevokedAt)
		return nil
	}))
	err := b.Store.Read(ctx, other.org.ID, func(tx store.Tx) error {
		_, err := tx.ConsumeEnrollmentToken(ctx, "enroll-b", epoch)
		return err
	})
	assert.Error(t, err, "a read-only transaction cannot consume a token")
	err = b.Store.Write(ctx, other.org.ID, func(tx store.Tx) error {
		tok, err := tx.ConsumeEnrollmentToken(ctx, "enroll-b", epoch)
		assert.Equal(t, other.device.ID, tok.DeviceID)
		return err
	})
	require.NoError(t, err, "B's token survived A's attempts")
	n, err := b.Store.VerifyAudit(ctx, other.org.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

// testWriteRollsBack checks that an action and its audit entry commit together or not at all.
func testWriteRollsBack(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	boom := errors.New("boom")
	err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		if _, err := tx.CreateDevice(ctx, store.Device{Name: "rack-1"}); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, store.AuditRecord{Action: store.AuditDeviceCreate}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		ds, err := tx.Devices(ctx)
		require.NoError(t, err)
		assert.Empty(t, ds)
		es, err := tx.Audit(ctx, 0, 10)
		require.NoError(t, err)
		assert.Empty(t, es)
		return nil
	}))
}

func testInvalidIDs(t *testing.T, b Backend) {
	ctx := ctxT(t)
	for _, id := range []string{"", "not-a-uuid", "00000000-0000-0000-0000-00000000000G", "' OR 1=1 --",
		"AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA"} {
		err := b.Store.Read(ctx, id, func(tx store.Tx) error { return nil })
		assert.ErrorIs(t, err, store.ErrInvalid, "org %q", id)
	}
	o := newOrg(t, b.Store, "Acme")
	err := b.Store.Read(ctx, o.ID, func(tx store.Tx) error { _, err := tx.Device(ctx, "x"); return err })
	assert.ErrorIs(t, err, store.ErrInvalid)
}
