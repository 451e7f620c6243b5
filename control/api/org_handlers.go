package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

func (a *API) org(c *fiber.Ctx, orgID string) (store.Organization, error) {
	var o store.Organization
	err := a.cfg.Store.Read(c.UserContext(), orgID, func(tx store.Tx) error {
		var err error
		o, err = tx.Organization(c.UserContext())
		return err
	})
	return o, err
}

type orgView struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Slug              string    `json:"slug"`
	IdleTimeoutS      int64     `json:"idle_timeout_s"`
	MaxSessionS       int64     `json:"max_session_s"`
	RequireMFA        bool      `json:"require_mfa"`
	GuestLinks        bool      `json:"guest_links"`
	Recording         string    `json:"recording"`
	RecordingKeys     bool      `json:"recording_keys"`
	RecordingDays     int       `json:"recording_retention_days"`
	CreatedAt         time.Time `json:"created_at"`
	PresenceWindowSec int64     `json:"presence_window_s"`
}

func orgOf(o store.Organization) orgView {
	return orgView{ID: o.ID, Name: o.Name, Slug: o.Slug, IdleTimeoutS: int64(o.Settings.IdleTimeout / time.Second),
		MaxSessionS: int64(o.Settings.MaxSessionDuration / time.Second), RequireMFA: o.Settings.RequireMFA, GuestLinks: o.Settings.GuestLinks, CreatedAt: o.CreatedAt,
		Recording: string(orOff(o.Settings.Recording)), RecordingKeys: o.Settings.RecordingKeys, RecordingDays: retentionDays(o.Settings),
		PresenceWindowSec: int64(device.OfflineAfter / time.Second)}
}

func (a *API) getOrg(c *fiber.Ctx) error {
	o, err := a.org(c, principalOf(c).OrgID)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(orgOf(o))
}

type settingsRequest struct {
	IdleTimeoutS *int64 `json:"idle_timeout_s"`
	MaxSessionS  *int64 `json:"max_session_s"`
	RequireMFA   *bool  `json:"require_mfa"`
	// GuestLinks lets console participants create view-only guest links; turning it off ends
	// the guests' consoles (the route re-authorizes live sessions).
	GuestLinks *bool `json:"guest_links"`
	// Recording is the recording policy: off, on or required.
	Recording *string `json:"recording"`
	// RecordingKeys turns full keystroke capture in recordings on or off (audited with a
	// sentence of its own).
	RecordingKeys *bool `json:"recording_keys"`
	// RecordingRetentionDays is how long recordings are kept, 1 to 3650 days.
	RecordingRetentionDays *int `json:"recording_retention_days"`
}

// maxSetting bounds both settings: a week.
const maxSetting = 7 * 24 * 3600

func (a *API) patchSettings(c *fiber.Ctx) error {
	var req settingsRequest
	if !body(c, &req) {
		return nil
	}
	for _, v := range []*int64{req.IdleTimeoutS, req.MaxSessionS} {
		if v != nil && (*v < 0 || *v > maxSetting) {
			return fail(c, fiber.StatusBadRequest, CodeBadRequest, "Timeouts are whole seconds from 0 (off, idle only) to 604800 (a week).")
		}
	}
	if req.Recording != nil && !store.RecordingPolicy(*req.Recording).Valid() {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, `recording is "off", "on" or "required".`)
	}
	if d := req.RecordingRetentionDays; d != nil && (*d < 1 || *d > store.MaxRecordingRetentionDays) {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "recording_retention_days is from 1 to 3650.")
	}
	if req.MaxSessionS != nil && *req.MaxSessionS == 0 {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "max_session_s must be at least 1 second.")
	}
	seconds := func(v *int64) *time.Duration {
		if v == nil {
			return nil
		}
		d := time.Duration(*v) * time.Second
		return &d
	}
	o, err := a.cfg.Accounts.UpdateOrgSettings(c.UserContext(), principalOf(c), accounts.SettingsChange{
		IdleTimeout: seconds(req.IdleTimeoutS), MaxSessionDuration: seconds(req.MaxSessionS), RequireMFA: req.RequireMFA,
		GuestLinks: req.GuestLinks, Recording: (*store.RecordingPolicy)(req.Recording), RecordingKeys: req.RecordingKeys,
		RecordingRetentionDays: req.RecordingRetentionDays,
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(orgOf(o))
}

func (a *API) audit(ctx context.Context, tx store.Tx, actor string, action store.AuditAction, target string, details map[string]string) error {
	_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: a.now(), Actor: actor, Action: action, Target: target, Details: details})
	return err
}

// orOff reads an unset policy as off.
func orOff(p store.RecordingPolicy) store.RecordingPolicy {
	if p == "" {
		return store.RecordingOff
	}
	return p
}

// retentionDays reads an unset retention as the default.
func retentionDays(s store.OrgSettings) int {
	if s.RecordingRetentionDays == 0 {
		return store.DefaultRecordingRetentionDays
	}
	return s.RecordingRetentionDays
}
