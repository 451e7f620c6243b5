package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

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
	CreatedAt         time.Time `json:"created_at"`
	PresenceWindowSec int64     `json:"presence_window_s"`
}

func (a *API) getOrg(c *fiber.Ctx) error {
	o, err := a.org(c, principalOf(c).OrgID)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(orgView{ID: o.ID, Name: o.Name, Slug: o.Slug, IdleTimeoutS: int64(o.Settings.IdleTimeout / time.Second),
		MaxSessionS: int64(o.Settings.MaxSessionDuration / time.Second), CreatedAt: o.CreatedAt,
		PresenceWindowSec: int64(device.OfflineAfter / time.Second)})
}

type settingsRequest struct {
	IdleTimeoutS *int64 `json:"idle_timeout_s"`
	MaxSessionS  *int64 `json:"max_session_s"`
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
	if req.MaxSessionS != nil && *req.MaxSessionS == 0 {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "max_session_s must be at least 1 second.")
	}
	p := principalOf(c)
	ctx := c.UserContext()
	var out store.Organization
	err := a.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		o, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		s := o.Settings
		if req.IdleTimeoutS != nil {
			s.IdleTimeout = time.Duration(*req.IdleTimeoutS) * time.Second
		}
		if req.MaxSessionS != nil {
			s.MaxSessionDuration = time.Duration(*req.MaxSessionS) * time.Second
		}
		if err := tx.UpdateSettings(ctx, s); err != nil {
			return err
		}
		o.Settings = s
		out = o
		return a.audit(ctx, tx, p.String(), store.AuditSettingsChange, "org:"+p.OrgID, map[string]string{
			"idle_timeout_s": strconv.FormatInt(int64(s.IdleTimeout/time.Second), 10),
			"max_session_s":  strconv.FormatInt(int64(s.MaxSessionDuration/time.Second), 10),
		})
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(orgView{ID: out.ID, Name: out.Name, Slug: out.Slug, IdleTimeoutS: int64(out.Settings.IdleTimeout / time.Second),
		MaxSessionS: int64(out.Settings.MaxSessionDuration / time.Second), CreatedAt: out.CreatedAt,
		PresenceWindowSec: int64(device.OfflineAfter / time.Second)})
}

func (a *API) audit(ctx context.Context, tx store.Tx, actor string, action store.AuditAction, target string, details map[string]string) error {
	_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: a.now(), Actor: actor, Action: action, Target: target, Details: details})
	return err
}
