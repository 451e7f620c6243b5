package accounts

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// applyRecording applies the recording part of change to st and names what changed. A
// policy or retention out of range is ErrInvalid, in words for the person setting it.
func applyRecording(st *store.OrgSettings, change SettingsChange) ([]string, error) {
	var changed []string
	if st.Recording == "" {
		st.Recording = store.RecordingOff
	}
	if st.RecordingRetentionDays == 0 {
		st.RecordingRetentionDays = store.DefaultRecordingRetentionDays
	}
	if p := change.Recording; p != nil && *p != st.Recording {
		if !p.Valid() {
			return nil, fmt.Errorf("%w: recording is off, on or required", ErrInvalid)
		}
		st.Recording = *p
		changed = append(changed, "recording")
	}
	if k := change.RecordingKeys; k != nil && *k != st.RecordingKeys {
		st.RecordingKeys = *k
		changed = append(changed, "recording_keys")
	}
	if d := change.RecordingRetentionDays; d != nil && *d != st.RecordingRetentionDays {
		if *d < 1 || *d > store.MaxRecordingRetentionDays {
			return nil, fmt.Errorf("%w: recordings are kept from 1 to %d days", ErrInvalid, store.MaxRecordingRetentionDays)
		}
		st.RecordingRetentionDays = *d
		changed = append(changed, "recording_retention_days")
	}
	return changed, nil
}

// keystrokeCaptureDetail is the audit detail of full keystroke capture turned on or off.
func keystrokeCaptureDetail(on bool) string {
	if on {
		return "turned on: recordings of this organization's sessions now keep every key typed, passwords included"
	}
	return "turned off: recordings no longer keep the keys typed (input is still counted)"
}
