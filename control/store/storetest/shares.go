package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// testShares: share links of a session are stored with their token's hash only, found by it
// (and through the directory), listed per session, revoked once, and name the sessions joined
// through them; another organization's session, share or token is not found.
func testShares(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Globex")
	d := mustDevice(t, b.Store, o.ID, "rack-1")
	d2 := mustDevice(t, b.Store, o.ID, "rack-2")
	theirs := mustDevice(t, b.Store, other.ID, "rack-x")
	parent := newSession(t, b, o.ID, d.ID)
	foreign := newSession(t, b, other.ID, theirs.ID)
	expires := epoch.Add(time.Hour)

	var member, guest store.Share
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		member, err = tx.CreateShare(ctx, store.Share{SessionID: parent.ID, Kind: store.ShareMember, TokenHash: "hash-member",
			CreatedBy: "user:ann", CreatedAt: epoch})
		if err != nil {
			return err
		}
		guest, err = tx.CreateShare(ctx, store.Share{SessionID: parent.ID, Kind: store.ShareGuest, TokenHash: "hash-guest",
			CreatedBy: "user:ann", CreatedAt: epoch.Add(time.Second), ExpiresAt: &expires})
		return err
	})
	require.True(t, store.ValidID(member.ID))
	assert.Equal(t, o.ID, member.OrgID)
	assert.Nil(t, member.ExpiresAt, "a member share lasts as long as its session")

	invalid := []struct {
		name string
		sh   store.Share
		want error
	}{
		{"unknown kind", store.Share{SessionID: parent.ID, Kind: "public", TokenHash: "h1", CreatedBy: "user:ann"}, store.ErrInvalid},
		{"guest without expiry", store.Share{SessionID: parent.ID, Kind: store.ShareGuest, TokenHash: "h2", CreatedBy: "user:ann"}, store.ErrInvalid},
		{"no token hash", store.Share{SessionID: parent.ID, Kind: store.ShareMember, CreatedBy: "user:ann"}, store.ErrInvalid},
		{"no creator", store.Share{SessionID: parent.ID, Kind: store.ShareMember, TokenHash: "h3"}, store.ErrInvalid},
		{"malformed session id", store.Share{SessionID: "s_1", Kind: store.ShareMember, TokenHash: "h4", CreatedBy: "user:ann"}, store.ErrInvalid},
		{"another organization's session", store.Share{SessionID: foreign.ID, Kind: store.ShareMember, TokenHash: "h5", CreatedBy: "user:ann"}, store.ErrNotFound},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
				_, err := tx.CreateShare(ctx, tc.sh)
				return err
			})
			assert.ErrorIs(t, err, tc.want)
		})
	}
	t.Run("token hash unique", func(t *testing.T) {
		err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			_, err := tx.CreateShare(ctx, store.Share{SessionID: parent.ID, Kind: store.ShareMember, TokenHash: "hash-member", CreatedBy: "user:bob"})
			return err
		})
		assert.Error(t, err)
	})

	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Share(ctx, guest.ID)
		require.NoError(t, err)
		assert.Equal(t, store.ShareGuest, got.Kind)
		assert.Equal(t, "hash-guest", got.TokenHash)
		assert.Equal(t, parent.ID, got.SessionID)
		require.NotNil(t, got.ExpiresAt)
		assert.Equal(t, us(expires), *got.ExpiresAt)
		assert.Equal(t, us(epoch.Add(time.Second)), got.CreatedAt)
		assert.True(t, got.Live(epoch))
		assert.False(t, got.Live(expires), "expired at its expiry")

		byHash, err := tx.ShareByTokenHash(ctx, "hash-member")
		require.NoError(t, err)
		assert.Equal(t, member.ID, byHash.ID)
		_, err = tx.ShareByTokenHash(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = tx.ShareByTokenHash(ctx, "")
		assert.ErrorIs(t, err, store.ErrNotFound)

		list, err := tx.SharesOfSession(ctx, parent.ID)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, []string{guest.ID, member.ID}, []string{list[0].ID, list[1].ID}, "newest first")
		_, err = tx.Share(ctx, store.NewID())
		assert.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))
	org, err := b.Store.Lookup(ctx, store.LookupShare, "hash-guest")
	require.NoError(t, err)
	assert.Equal(t, o.ID, org, "the directory maps a guest's token to its organization")

	// Another organization sees none of it.
	require.NoError(t, b.Store.Read(ctx, other.ID, func(tx store.Tx) error {
		_, err := tx.Share(ctx, member.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = tx.ShareByTokenHash(ctx, "hash-member")
		assert.ErrorIs(t, err, store.ErrNotFound)
		list, err := tx.SharesOfSession(ctx, parent.ID)
		require.NoError(t, err)
		assert.Empty(t, list)
		return nil
	}))
	err = b.Store.Write(ctx, other.ID, func(tx store.Tx) error {
		_, err := tx.RevokeShare(ctx, member.ID, epoch)
		return err
	})
	assert.ErrorIs(t, err, store.ErrNotFound, "nor revokes it")

	// Sessions joined through a share: grant view, same device; the share must be the
	// organization's.
	var viewer store.ConsoleSession
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		viewer, err = tx.CreateSession(ctx, store.ConsoleSession{DeviceID: d.ID, Principal: "guest:" + guest.ID, Grant: "view",
			ShareID: guest.ID, DisplayName: "Jane", Desired: store.SessionActive, Current: store.SessionRequested,
			CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
		return err
	})
	badSessions := []struct {
		name string
		s    store.ConsoleSession
		want error
	}{
		{"grant control through a share", store.ConsoleSession{DeviceID: d.ID, Principal: "user:bob", Grant: "control", ShareID: member.ID}, store.ErrInvalid},
		{"no grant through a share", store.ConsoleSession{DeviceID: d.ID, Principal: "user:bob", ShareID: member.ID}, store.ErrInvalid},
		{"another device", store.ConsoleSession{DeviceID: d2.ID, Principal: "user:bob", Grant: "view", ShareID: member.ID}, store.ErrInvalid},
		{"unknown share", store.ConsoleSession{DeviceID: d.ID, Principal: "user:bob", Grant: "view", ShareID: store.NewID()}, store.ErrNotFound},
		{"unknown grant", store.ConsoleSession{DeviceID: d.ID, Principal: "user:bob", Grant: "root"}, store.ErrInvalid},
	}
	for _, tc := range badSessions {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.CreatedAt, tc.s.ExpiresAt = epoch, epoch.Add(time.Hour)
			err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
				_, err := tx.CreateSession(ctx, tc.s)
				return err
			})
			assert.ErrorIs(t, err, tc.want)
		})
	}
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Session(ctx, viewer.ID)
		require.NoError(t, err)
		assert.Equal(t, guest.ID, got.ShareID)
		assert.Equal(t, "view", got.Grant)
		assert.Equal(t, "Jane", got.DisplayName)
		p, err := tx.Session(ctx, parent.ID)
		require.NoError(t, err)
		assert.Empty(t, p.ShareID)
		assert.Empty(t, p.Grant, "sessions made without a grant keep none")
		joined, err := tx.SessionsOfShare(ctx, guest.ID)
		require.NoError(t, err)
		require.Len(t, joined, 1)
		assert.Equal(t, viewer.ID, joined[0].ID)
		joined, err = tx.SessionsOfShare(ctx, member.ID)
		require.NoError(t, err)
		assert.Empty(t, joined)
		return nil
	}))

	// Grants change as rights do; a session joined through a share only ever watches.
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.SetSessionGrant(ctx, parent.ID, "admin") })
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.SetSessionGrant(ctx, viewer.ID, "view") })
	grantCases := []struct {
		name, sid, grant string
		want             error
	}{
		{"control through a share", viewer.ID, "control", store.ErrInvalid},
		{"unknown grant", parent.ID, "root", store.ErrInvalid},
		{"unknown session", store.NewID(), "view", store.ErrNotFound},
		{"another organization's session", foreign.ID, "view", store.ErrNotFound},
	}
	for _, tc := range grantCases {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error { return tx.SetSessionGrant(ctx, tc.sid, tc.grant) })
			assert.ErrorIs(t, err, tc.want)
		})
	}
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		p, err := tx.Session(ctx, parent.ID)
		require.NoError(t, err)
		assert.Equal(t, "admin", p.Grant)
		v, err := tx.Session(ctx, viewer.ID)
		require.NoError(t, err)
		assert.Equal(t, "view", v.Grant)
		return nil
	}))

	// Revocation stamps once.
	var revoked store.Share
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		revoked, err = tx.RevokeShare(ctx, guest.ID, epoch.Add(time.Minute))
		if err != nil {
			return err
		}
		revoked, err = tx.RevokeShare(ctx, guest.ID, epoch.Add(time.Hour))
		return err
	})
	require.NotNil(t, revoked.RevokedAt)
	assert.Equal(t, us(epoch.Add(time.Minute)), *revoked.RevokedAt, "the first revocation's time stays")
	assert.False(t, revoked.Live(epoch.Add(2*time.Minute)))
	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.RevokeShare(ctx, store.NewID(), epoch)
		return err
	})
	assert.ErrorIs(t, err, store.ErrNotFound)

	// Deleting the device removes its sessions' shares and their directory entries.
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, d.ID, epoch) })
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.DeleteDevice(ctx, d.ID) })
	_, err = b.Store.Lookup(ctx, store.LookupShare, "hash-guest")
	assert.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.Share(ctx, member.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))
}

// testGuestLinksSetting: the organization's guest links setting is off by default and kept
// like the other settings.
func testGuestLinksSetting(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	assert.False(t, o.Settings.GuestLinks)
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		got, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		assert.False(t, got.Settings.GuestLinks, "off by default")
		got.Settings.GuestLinks = true
		return tx.UpdateSettings(ctx, got.Settings)
	})
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Organization(ctx)
		require.NoError(t, err)
		assert.True(t, got.Settings.GuestLinks)
		assert.Equal(t, o.Settings.IdleTimeout, got.Settings.IdleTimeout, "the others are kept")
		return nil
	}))
}
