package accounts

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Requiring MFA (store.OrgSettings.RequireMFA).
//
// With the setting on, a member without a confirmed TOTP who signs in with the right password
// still gets a session, but one that may only enroll TOTP (and read who it is): the API refuses
// everything else with ErrMFAEnrollmentRequired, and the dashboard and kvmctl send the user to
// enrollment. Refusing the login instead would lock out every member who has not enrolled yet,
// with no way to enroll short of an admin; a restricted session lets them do it themselves.
// The restriction is derived on every request from the user and the organization as stored,
// not carried in the token, so it starts the moment an owner turns the setting on (existing
// sessions included) and ends the moment the user confirms TOTP.
//
// API keys are not people and have no second factor: they keep working. Only a principal that
// may manage API keys creates one, and with the setting on such a user must have MFA first,
// so a key is as strong as the login that made it; revoke older keys to be strict. OIDC
// principals are authenticated by the identity provider, which decides their factors: require
// MFA there (e.g. Keycloak's OTP policy). The relay cannot enroll TOTP for them, so they are not
// restricted.

// mfaEnrollmentRequired reports whether u's sessions are restricted to enrolling TOTP.
func mfaEnrollmentRequired(ctx context.Context, tx store.Tx, u store.User) (bool, error) {
	if u.TOTPConfirmed {
		return false, nil
	}
	o, err := tx.Organization(ctx)
	if err != nil {
		return false, err
	}
	return o.Settings.RequireMFA, nil
}

// SettingsChange is a partial update of an organization's settings: nil fields stay.
type SettingsChange struct {
	IdleTimeout        *time.Duration
	MaxSessionDuration *time.Duration
	RequireMFA         *bool
	// GuestLinks lets console participants create view-only guest links (control/shares);
	// the caller re-authorizes live sessions after turning it off, which ends guests' consoles.
	GuestLinks *bool
	// Recording is the recording policy (off, on, required); RecordingKeys full keystroke
	// capture in recordings; RecordingRetentionDays how long recordings are kept (1..3650).
	Recording              *store.RecordingPolicy
	RecordingKeys          *bool
	RecordingRetentionDays *int
}

// UpdateOrgSettings applies change to p's organization and audits the settings as they are
// afterwards, naming what changed. Turning RequireMFA on is refused to a user who has no
// second factor themselves: their own session would be restricted at once, which is better
// found out before.
func (s *Service) UpdateOrgSettings(ctx context.Context, p Principal, change SettingsChange) (store.Organization, error) {
	if !p.Can(ManageOrg) {
		return store.Organization{}, fmt.Errorf("%w: changing organization settings", ErrForbidden)
	}
	var out store.Organization
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		o, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		st := o.Settings
		var changed []string
		if change.IdleTimeout != nil && *change.IdleTimeout != st.IdleTimeout {
			st.IdleTimeout = *change.IdleTimeout
			changed = append(changed, "idle_timeout_s")
		}
		if change.MaxSessionDuration != nil && *change.MaxSessionDuration != st.MaxSessionDuration {
			st.MaxSessionDuration = *change.MaxSessionDuration
			changed = append(changed, "max_session_s")
		}
		if change.RequireMFA != nil && *change.RequireMFA != st.RequireMFA {
			st.RequireMFA = *change.RequireMFA
			changed = append(changed, "require_mfa")
			if st.RequireMFA && p.Kind == KindUser {
				u, err := tx.User(ctx, p.ID)
				if err != nil {
					return err
				}
				if !u.TOTPConfirmed {
					return fmt.Errorf("%w: turn on MFA for your own account first (kvmctl mfa enable, or the dashboard's Account page), then require it of everyone", ErrInvalid)
				}
			}
		}
		if change.GuestLinks != nil && *change.GuestLinks != st.GuestLinks {
			st.GuestLinks = *change.GuestLinks
			changed = append(changed, "guest_links")
		}
		recChanged, err := applyRecording(&st, change)
		if err != nil {
			return err
		}
		changed = append(changed, recChanged...)
		if err := tx.UpdateSettings(ctx, st); err != nil {
			return err
		}
		o.Settings = st
		out = o
		details := map[string]string{
			"idle_timeout_s": strconv.FormatInt(int64(st.IdleTimeout/time.Second), 10),
			"max_session_s":  strconv.FormatInt(int64(st.MaxSessionDuration/time.Second), 10),
			"require_mfa":    strconv.FormatBool(st.RequireMFA),
			"guest_links":    strconv.FormatBool(st.GuestLinks),
			"changed":        strings.Join(changed, " "),

			"recording":                string(st.Recording),
			"recording_keys":           strconv.FormatBool(st.RecordingKeys),
			"recording_retention_days": strconv.Itoa(st.RecordingRetentionDays),
		}
		if slices.Contains(changed, "recording_keys") {
			// Its own sentence: whether typed keys (passwords included) are kept is what an
			// auditor looks for.
			details["keystroke_capture"] = keystrokeCaptureDetail(st.RecordingKeys)
		}
		return s.audit(ctx, tx, store.AuditRecord{Actor: p.String(), Action: store.AuditSettingsChange, Target: "org:" + p.OrgID, Details: details})
	})
	if err != nil {
		return store.Organization{}, storeErr("update organization settings", err)
	}
	if change.RequireMFA != nil || change.GuestLinks != nil || change.Recording != nil || change.RecordingKeys != nil {
		s.log.Info("organization settings changed", "org", p.OrgID, "by", p.String(), "require_mfa", out.Settings.RequireMFA,
			"guest_links", out.Settings.GuestLinks, "recording", out.Settings.Recording, "recording_keys", out.Settings.RecordingKeys)
	}
	return out, nil
}
