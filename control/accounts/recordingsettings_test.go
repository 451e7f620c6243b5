package accounts

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestRecordingSettings: the owner sets the recording policy, keystroke capture and
// retention; each change is audited as a settings change, keystroke capture's with a
// sentence of its own; out-of-range values and other roles are refused.
func TestRecordingSettings(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		org, owner := e.owner(t)
		admin := e.addUser(t, org.ID, "adam@acme.test", "member password 1", store.RoleAdmin, nil)
		required := store.RecordingRequired

		_, err := e.svc.UpdateOrgSettings(ctx, admin, SettingsChange{Recording: &required})
		require.ErrorIs(t, err, ErrForbidden)
		for _, bad := range []SettingsChange{
			{Recording: ptr(store.RecordingPolicy("always"))},
			{RecordingRetentionDays: ptr(0)},
			{RecordingRetentionDays: ptr(3651)},
		} {
			_, err := e.svc.UpdateOrgSettings(ctx, owner, bad)
			require.ErrorIs(t, err, ErrInvalid, "%+v", bad)
		}

		o, err := e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{Recording: &required, RecordingRetentionDays: ptr(90)})
		require.NoError(t, err)
		assert.Equal(t, store.RecordingRequired, o.Settings.Recording)
		assert.Equal(t, 90, o.Settings.RecordingRetentionDays)
		assert.False(t, o.Settings.RecordingKeys)
		o, err = e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{RecordingKeys: ptr(true)})
		require.NoError(t, err)
		assert.True(t, o.Settings.RecordingKeys)
		assert.Equal(t, store.RecordingRequired, o.Settings.Recording, "the others stay")

		changes := auditsOf(e.audits(t, org.ID), store.AuditSettingsChange)
		require.Len(t, changes, 2, "refusals write nothing")
		assert.Equal(t, "recording recording_retention_days", changes[0].Details["changed"])
		assert.Equal(t, "required", changes[0].Details["recording"])
		assert.Equal(t, "90", changes[0].Details["recording_retention_days"])
		assert.NotContains(t, changes[0].Details, "keystroke_capture")
		assert.Equal(t, "recording_keys", changes[1].Details["changed"])
		assert.Equal(t, "true", changes[1].Details["recording_keys"])
		assert.Contains(t, changes[1].Details["keystroke_capture"], "turned on: recordings of this organization's sessions now keep every key typed")

		_, err = e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{RecordingKeys: ptr(false)})
		require.NoError(t, err)
		changes = auditsOf(e.audits(t, org.ID), store.AuditSettingsChange)
		assert.Contains(t, changes[2].Details["keystroke_capture"], "turned off")
	})
}
