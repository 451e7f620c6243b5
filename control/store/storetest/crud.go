package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func testOrganizations(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	assert.True(t, store.ValidID(o.ID))
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Organization(ctx)
		require.NoError(t, err)
		assert.Equal(t, "Acme", got.Name)
		assert.Equal(t, us(epoch), got.CreatedAt)
		assert.Equal(t, 15*time.Minute, got.Settings.IdleTimeout)
		assert.Equal(t, 8*time.Hour, got.Settings.MaxSessionDuration)
		assert.False(t, got.Settings.RequireMFA, "MFA is not required unless an owner says so")
		return nil
	}))
	// Each setting round-trips on its own: turning MFA on, then off again, keeps the timeouts.
	for _, want := range []store.OrgSettings{
		{IdleTimeout: 5 * time.Minute, MaxSessionDuration: time.Hour},
		{IdleTimeout: 5 * time.Minute, MaxSessionDuration: time.Hour, RequireMFA: true},
		{IdleTimeout: 0, MaxSessionDuration: 2 * time.Hour, RequireMFA: true},
		{IdleTimeout: 5 * time.Minute, MaxSessionDuration: time.Hour},
	} {
		write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.UpdateSettings(ctx, want) })
		require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
			got, err := tx.Organization(ctx)
			require.NoError(t, err)
			// Zero recording settings are stored as their defaults.
			want.Recording, want.RecordingRetentionDays = store.RecordingOff, store.DefaultRecordingRetentionDays
			assert.Equal(t, want, got.Settings)
			return nil
		}))
	}
	// An organization created with MFA required keeps it, with the default timeouts.
	strict, err := b.Store.CreateOrganization(ctx, store.Organization{ID: store.NewID(), Name: "Strict", Slug: "strict-" + o.ID[:8],
		Settings: store.OrgSettings{RequireMFA: true}, CreatedAt: epoch})
	require.NoError(t, err)
	require.NoError(t, b.Store.Read(ctx, strict.ID, func(tx store.Tx) error {
		got, err := tx.Organization(ctx)
		require.NoError(t, err)
		assert.Equal(t, store.OrgSettings{IdleTimeout: 15 * time.Minute, MaxSessionDuration: 8 * time.Hour, RequireMFA: true,
			Recording: store.RecordingOff, RecordingRetentionDays: store.DefaultRecordingRetentionDays}, got.Settings)
		return nil
	}))
	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		return tx.UpdateSettings(ctx, store.OrgSettings{IdleTimeout: -time.Second})
	})
	assert.ErrorIs(t, err, store.ErrInvalid)

	_, err = b.Store.CreateOrganization(ctx, store.Organization{ID: o.ID, Name: "again", Slug: "again", CreatedAt: epoch})
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = b.Store.CreateOrganization(ctx, store.Organization{CreatedAt: epoch})
	assert.ErrorIs(t, err, store.ErrInvalid)

	missing := store.NewID()
	err = b.Store.Read(ctx, missing, func(tx store.Tx) error { _, err := tx.Organization(ctx); return err })
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func testUsers(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	var u store.User
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		u, err = tx.CreateUser(ctx, store.User{Email: "ann@example.com", PasswordHash: "$argon2id$x", Role: store.RoleAdmin, CreatedAt: epoch})
		return err
	})
	assert.Equal(t, o.ID, u.OrgID)

	cases := []struct {
		name string
		u    store.User
		want error
	}{
		{"duplicate email", store.User{Email: "ann@example.com", Role: store.RoleViewer}, store.ErrConflict},
		{"bad role", store.User{Email: "bob@example.com", Role: "root"}, store.ErrInvalid},
		{"empty email", store.User{Role: store.RoleViewer}, store.ErrInvalid},
		{"bad id", store.User{ID: "1; DROP TABLE users", Email: "c@example.com", Role: store.RoleViewer}, store.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error { _, err := tx.CreateUser(ctx, tc.u); return err })
			assert.ErrorIs(t, err, tc.want)
		})
	}

	u.Role, u.Disabled, u.TOTPSecret = store.RoleViewer, true, "JBSWY3DPEHPK3PXP"
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.UpdateUser(ctx, u) })
	mustUser(t, b.Store, o.ID, "zed@example.com")
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.User(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u, got)
		byEmail, err := tx.UserByEmail(ctx, "ann@example.com")
		require.NoError(t, err)
		assert.Equal(t, u, byEmail)
		all, err := tx.Users(ctx)
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, "ann@example.com", all[0].Email)
		_, err = tx.User(ctx, store.NewID())
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = tx.UserByEmail(ctx, "nobody@example.com")
		assert.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))
	err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		return tx.UpdateUser(ctx, store.User{ID: store.NewID(), Email: "x@example.com", Role: store.RoleViewer})
	})
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func testDevices(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	hostile := `{"hostname":"<img src=x onerror=alert(1)>","os":"'; DROP TABLE devices; --"}`
	var d store.Device
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		d, err = tx.CreateDevice(ctx, store.Device{Name: "rack-1", Labels: map[string]string{"site": "fra1", "row": "b"}, CreatedAt: epoch})
		return err
	})
	mustDevice(t, b.Store, o.ID, "rack-0")
	seen := epoch.Add(time.Minute)
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.DeviceSeen(ctx, d.ID, seen, "1.2.3", hostile) })
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Device(ctx, d.ID)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"site": "fra1", "row": "b"}, got.Labels)
		assert.Equal(t, hostile, got.Capabilities, "agent text is stored verbatim")
		assert.Equal(t, "1.2.3", got.AgentVersion)
		require.NotNil(t, got.LastSeen)
		assert.Equal(t, us(seen), *got.LastSeen)
		assert.Nil(t, got.RevokedAt)
		all, err := tx.Devices(ctx)
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, "rack-0", all[0].Name)
		assert.Empty(t, all[0].Labels)
		return nil
	}))
	revoked := epoch.Add(time.Hour)
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, d.ID, revoked) })
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, d.ID, revoked.Add(time.Hour)) })
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Device(ctx, d.ID)
		require.NoError(t, err)
		require.NotNil(t, got.RevokedAt)
		assert.Equal(t, us(revoked), *got.RevokedAt, "a second revoke keeps the first time")
		return nil
	}))
	for name, fn := range map[string]func(tx store.Tx) error{
		"revoke": func(tx store.Tx) error { return tx.RevokeDevice(ctx, store.NewID(), epoch) },
		"seen":   func(tx store.Tx) error { return tx.DeviceSeen(ctx, store.NewID(), epoch, "", "") },
		"get":    func(tx store.Tx) error { _, err := tx.Device(ctx, store.NewID()); return err },
		"session": func(tx store.Tx) error {
			_, err := tx.CreateSession(ctx, store.ConsoleSession{DeviceID: store.NewID(), Principal: "user:x"})
			return err
		},
	} {
		t.Run("missing "+name, func(t *testing.T) {
			assert.ErrorIs(t, b.Store.Write(ctx, o.ID, fn), store.ErrNotFound)
		})
	}
}

func testAPIKeys(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	var k store.APIKey
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		k, err = tx.CreateAPIKey(ctx, store.APIKey{Prefix: "kvm_abc", Hash: "h1", Name: "ci", Role: store.RoleOperator, CreatedAt: epoch})
		return err
	})
	err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.CreateAPIKey(ctx, store.APIKey{Prefix: "kvm_abc", Hash: "h2", Role: store.RoleViewer})
		return err
	})
	assert.ErrorIs(t, err, store.ErrConflict)
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeAPIKey(ctx, k.ID, epoch.Add(time.Second)) })
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.APIKeyByPrefix(ctx, "kvm_abc")
		require.NoError(t, err)
		assert.Equal(t, k.ID, got.ID)
		assert.Equal(t, "h1", got.Hash)
		require.NotNil(t, got.RevokedAt)
		all, err := tx.APIKeys(ctx)
		require.NoError(t, err)
		assert.Len(t, all, 1)
		_, err = tx.APIKeyByPrefix(ctx, "kvm_nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))
}

func testRefreshTokens(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	u := mustUser(t, b.Store, o.ID, "ann@example.com")
	family := store.NewID()
	exp := epoch.Add(24 * time.Hour)
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		return tx.CreateRefreshToken(ctx, store.RefreshToken{Hash: "r1", FamilyID: family, UserID: u.ID, CreatedAt: epoch, ExpiresAt: exp})
	})
	rotate := func(old, next string, at time.Time) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			return tx.RotateRefreshToken(ctx, old, store.RefreshToken{Hash: next, CreatedAt: at, ExpiresAt: exp})
		})
	}
	require.NoError(t, rotate("r1", "r2", epoch.Add(time.Minute)))
	assert.ErrorIs(t, rotate("r1", "r3", epoch.Add(2*time.Minute)), store.ErrTokenReused, "replaying a rotated token")
	assert.ErrorIs(t, rotate("nope", "r4", epoch), store.ErrTokenInvalid)
	assert.ErrorIs(t, rotate("r2", "r5", exp.Add(time.Second)), store.ErrTokenInvalid, "expired")
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeRefreshFamily(ctx, family, epoch.Add(3*time.Minute)) })
	assert.ErrorIs(t, rotate("r2", "r6", epoch.Add(4*time.Minute)), store.ErrTokenReused, "family revoked")
}
