package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// testRecordingSettings: recording is off by default with 30 days' retention and no
// keystroke capture; the settings are kept, and out-of-range ones refused alike.
func testRecordingSettings(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	assert.Equal(t, store.RecordingOff, o.Settings.Recording)
	assert.Equal(t, 30, o.Settings.RecordingRetentionDays)
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		got, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		assert.Equal(t, store.RecordingOff, got.Settings.Recording, "off by default")
		assert.False(t, got.Settings.RecordingKeys, "keystroke capture off by default")
		assert.Equal(t, store.DefaultRecordingRetentionDays, got.Settings.RecordingRetentionDays)
		got.Settings.Recording, got.Settings.RecordingKeys, got.Settings.RecordingRetentionDays = store.RecordingRequired, true, 7
		return tx.UpdateSettings(ctx, got.Settings)
	})
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Organization(ctx)
		require.NoError(t, err)
		assert.Equal(t, store.RecordingRequired, got.Settings.Recording)
		assert.True(t, got.Settings.RecordingKeys)
		assert.Equal(t, 7, got.Settings.RecordingRetentionDays)
		assert.Equal(t, o.Settings.IdleTimeout, got.Settings.IdleTimeout, "the others are kept")
		return nil
	}))
	for _, bad := range []store.OrgSettings{
		{Recording: "sometimes", RecordingRetentionDays: 30},
		{Recording: store.RecordingOn, RecordingRetentionDays: -1},
		{Recording: store.RecordingOn, RecordingRetentionDays: 3651},
	} {
		err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			bad.IdleTimeout, bad.MaxSessionDuration = time.Minute, time.Hour
			return tx.UpdateSettings(ctx, bad)
		})
		assert.ErrorIs(t, err, store.ErrInvalid, "%+v", bad)
	}
}

// testRecordings: a recording is created being written, ends once, lists newest first with
// filters and paging, is found by retention, and is deleted; another organization sees none.
func testRecordings(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Other")
	d1, d2 := mustDevice(t, b.Store, o.ID, "pc-1"), mustDevice(t, b.Store, o.ID, "pc-2")
	s1, s2 := store.NewID(), store.NewID()

	var recs []store.Recording
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		for i, in := range []store.Recording{
			{SessionID: s1, DeviceID: d1.ID, StartedAt: epoch, CaptureKeys: true},
			{SessionID: s2, DeviceID: d2.ID, StartedAt: epoch.Add(time.Hour)},
			{SessionID: s2, DeviceID: d2.ID, StartedAt: epoch.Add(2 * time.Hour)},
		} {
			in.Path = o.ID + "/" + string(rune('a'+i)) + ".mp4"
			r, err := tx.CreateRecording(ctx, in)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	first := recs[0]
	assert.True(t, store.ValidID(first.ID))
	assert.Equal(t, store.RecordingActive, first.State)
	assert.Equal(t, o.ID, first.OrgID)

	err := b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.CreateRecording(ctx, store.Recording{SessionID: s1, DeviceID: d1.ID, StartedAt: epoch})
		return err
	})
	assert.ErrorIs(t, err, store.ErrInvalid, "a path is required")

	end := store.RecordingEnd{State: store.RecordingComplete, EndedAt: epoch.Add(10 * time.Minute), Duration: 599999 * time.Millisecond,
		Frames: 18000, Bytes: 1 << 20, VideoSHA256: "aa", TimelineSHA256: "bb",
		Participants: []store.Participant{{Name: "ann@example.com", Principal: "user:1", Grant: "admin"}, {Name: "Bob", Principal: "guest:2", Grant: "view"}}}
	var ended store.Recording
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		ended, err = tx.EndRecording(ctx, first.ID, end)
		return err
	})
	assert.Equal(t, store.RecordingComplete, ended.State)
	require.NotNil(t, ended.EndedAt)
	assert.Equal(t, us(end.EndedAt), *ended.EndedAt)
	assert.Equal(t, end.Duration, ended.Duration)
	assert.Equal(t, end.Participants, ended.Participants)
	assert.True(t, ended.CaptureKeys)

	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.EndRecording(ctx, first.ID, end)
		return err
	})
	assert.ErrorIs(t, err, store.ErrConflict, "a recording ends once")
	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.EndRecording(ctx, store.NewID(), end)
		return err
	})
	assert.ErrorIs(t, err, store.ErrNotFound)
	err = b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.EndRecording(ctx, recs[1].ID, store.RecordingEnd{State: store.RecordingActive, EndedAt: epoch})
		return err
	})
	assert.ErrorIs(t, err, store.ErrInvalid)

	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Recording(ctx, first.ID)
		require.NoError(t, err)
		assert.Equal(t, ended, got)

		all, err := tx.Recordings(ctx, store.RecordingFilter{})
		require.NoError(t, err)
		require.Len(t, all, 3)
		assert.Equal(t, []string{recs[2].ID, recs[1].ID, recs[0].ID}, ids(all), "newest first")

		byDevice, err := tx.Recordings(ctx, store.RecordingFilter{DeviceID: d1.ID})
		require.NoError(t, err)
		assert.Equal(t, []string{first.ID}, ids(byDevice))
		bySession, err := tx.Recordings(ctx, store.RecordingFilter{SessionID: s2})
		require.NoError(t, err)
		assert.Equal(t, []string{recs[2].ID, recs[1].ID}, ids(bySession))
		page, err := tx.Recordings(ctx, store.RecordingFilter{Limit: 1, Offset: 1})
		require.NoError(t, err)
		assert.Equal(t, []string{recs[1].ID}, ids(page))

		// Retention: the first ended at +10 min, the others are still being written.
		old, err := tx.RecordingsBefore(ctx, epoch.Add(30*time.Minute), 0)
		require.NoError(t, err)
		assert.Equal(t, []string{first.ID}, ids(old))
		old, err = tx.RecordingsBefore(ctx, epoch.Add(90*time.Minute), 0)
		require.NoError(t, err)
		assert.Equal(t, []string{first.ID, recs[1].ID}, ids(old), "oldest first")
		return nil
	}))

	require.NoError(t, b.Store.Read(ctx, other.ID, func(tx store.Tx) error {
		_, err := tx.Recording(ctx, first.ID)
		assert.ErrorIs(t, err, store.ErrNotFound, "another organization's recording")
		all, err := tx.Recordings(ctx, store.RecordingFilter{})
		require.NoError(t, err)
		assert.Empty(t, all)
		return nil
	}))
	err = b.Store.Write(ctx, other.ID, func(tx store.Tx) error { return tx.DeleteRecording(ctx, first.ID) })
	assert.ErrorIs(t, err, store.ErrNotFound, "another organization cannot delete it")

	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.DeleteRecording(ctx, first.ID) })
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.Recording(ctx, first.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))
}

func ids(rs []store.Recording) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
