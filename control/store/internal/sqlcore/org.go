package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// CreateOrganization inserts the organization the transaction is scoped to.
func (t *Tx) CreateOrganization(ctx context.Context, o store.Organization) (store.Organization, error) {
	if o.ID != t.org {
		return o, fmt.Errorf("create organization %s in a transaction for %s: %w", o.ID, t.org, store.ErrInvalid)
	}
	if o.Name == "" {
		return o, fmt.Errorf("create organization: empty name: %w", store.ErrInvalid)
	}
	if !store.ValidSlug(o.Slug) {
		return o, fmt.Errorf("create organization: slug %q (want 1-63 of a-z, 0-9 and -): %w", o.Slug, store.ErrInvalid)
	}
	if o.Settings.IdleTimeout == 0 && o.Settings.MaxSessionDuration == 0 {
		o.Settings.IdleTimeout, o.Settings.MaxSessionDuration = 15*time.Minute, 8*time.Hour
	}
	o.Settings = recordingDefaults(o.Settings)
	if err := checkRecordingSettings(o.Settings); err != nil {
		return o, fmt.Errorf("create organization: %w", err)
	}
	o.CreatedAt = ts(o.CreatedAt)
	_, err := t.c.Exec(ctx, `INSERT INTO organizations (id, name, slug, idle_timeout_s, max_session_s, require_mfa, guest_links,
		recording, recording_keys, recording_retention_days, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, o.Slug, int64(o.Settings.IdleTimeout/time.Second), int64(o.Settings.MaxSessionDuration/time.Second), o.Settings.RequireMFA,
		o.Settings.GuestLinks, string(o.Settings.Recording), o.Settings.RecordingKeys, o.Settings.RecordingRetentionDays, o.CreatedAt)
	if err != nil {
		return o, fmt.Errorf("create organization %s: %w", o.ID, err)
	}
	return o, t.register(ctx, store.LookupOrgSlug, o.Slug)
}

// Organization returns the organization the transaction is scoped to.
func (t *Tx) Organization(ctx context.Context) (store.Organization, error) {
	var o store.Organization
	var idle, maxS int64
	var requireMFA, guestLinks, recordingKeys bool
	var recording string
	var retention int
	var created timeCol
	err := t.c.QueryRow(ctx, `SELECT id, name, slug, idle_timeout_s, max_session_s, require_mfa, guest_links,
		recording, recording_keys, recording_retention_days, created_at
		FROM organizations WHERE id = ?`, t.org).Scan(&o.ID, &o.Name, &o.Slug, &idle, &maxS, &requireMFA, &guestLinks,
		&recording, &recordingKeys, &retention, &created)
	if err != nil {
		return o, fmt.Errorf("organization %s: %w", t.org, err)
	}
	o.Settings = store.OrgSettings{IdleTimeout: time.Duration(idle) * time.Second, MaxSessionDuration: time.Duration(maxS) * time.Second,
		RequireMFA: requireMFA, GuestLinks: guestLinks, Recording: store.RecordingPolicy(recording), RecordingKeys: recordingKeys,
		RecordingRetentionDays: retention}
	o.CreatedAt = created.T
	return o, nil
}

// UpdateSettings replaces the organization's settings.
func (t *Tx) UpdateSettings(ctx context.Context, s store.OrgSettings) error {
	if s.IdleTimeout < 0 || s.MaxSessionDuration < 0 {
		return fmt.Errorf("update settings: negative duration: %w", store.ErrInvalid)
	}
	s = recordingDefaults(s)
	if err := checkRecordingSettings(s); err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	n, err := t.c.Exec(ctx, `UPDATE organizations SET idle_timeout_s = ?, max_session_s = ?, require_mfa = ?, guest_links = ?,
		recording = ?, recording_keys = ?, recording_retention_days = ? WHERE id = ?`,
		int64(s.IdleTimeout/time.Second), int64(s.MaxSessionDuration/time.Second), s.RequireMFA, s.GuestLinks,
		string(s.Recording), s.RecordingKeys, s.RecordingRetentionDays, t.org)
	return exactlyOne(n, err, "update settings of organization", t.org)
}

// recordingDefaults fills the recording settings a caller left zero: no recording, the
// default retention.
func recordingDefaults(s store.OrgSettings) store.OrgSettings {
	if s.Recording == "" {
		s.Recording = store.RecordingOff
	}
	if s.RecordingRetentionDays == 0 {
		s.RecordingRetentionDays = store.DefaultRecordingRetentionDays
	}
	return s
}

// checkRecordingSettings refuses a policy or retention the schema would, as ErrInvalid on
// both databases alike.
func checkRecordingSettings(s store.OrgSettings) error {
	if !s.Recording.Valid() {
		return fmt.Errorf("recording policy %.16q (want off, on or required): %w", s.Recording, store.ErrInvalid)
	}
	if s.RecordingRetentionDays < 1 || s.RecordingRetentionDays > store.MaxRecordingRetentionDays {
		return fmt.Errorf("recording retention of %d days (want 1 to %d): %w", s.RecordingRetentionDays,
			store.MaxRecordingRetentionDays, store.ErrInvalid)
	}
	return nil
}
