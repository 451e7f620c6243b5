package api

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/denied"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// localsAuditedByService marks a 403 the service already audited as what it is (a wrong
// current password is a failed login), so it is not recorded twice.
const localsAuditedByService = "kvmrelay.audited"

// maxAuditedPath bounds the request path copied into an entry (it is the client's text).
const maxAuditedPath = 200

// auditRefusal appends an authenticated request's authorization failure to its organization's
// audit chain, as signaling refusals are, within the same per-principal budget: every 403,
// and a 404 for a device that exists but that the principal may not see (another
// organization's, or outside its label scope). A 404 for what does not exist at all is a
// typo, not a refusal, and is not recorded.
func (a *API) auditRefusal(c *fiber.Ctx, p accounts.Principal) {
	if done, _ := c.Locals(localsAuditedByService).(bool); done {
		return
	}
	status := c.Response().StatusCode()
	var reason, target string
	switch status {
	case fiber.StatusForbidden:
		reason = "forbidden"
	case fiber.StatusNotFound:
		reason, target = a.hiddenDevice(c, p)
		if reason == "" {
			return
		}
	default:
		return
	}
	if target == "" {
		target = "api:" + c.Method() + " " + c.Route().Path
	}
	path := c.Path()
	if len(path) > maxAuditedPath {
		path = path[:maxAuditedPath]
	}
	at := denied.Attempt{OrgID: p.OrgID, Actor: p.String(), Target: target, Details: map[string]string{
		"request": c.Method() + " " + strings.ToValidUTF8(path, "\uFFFD"), "status": strconv.Itoa(status), "reason": reason, "role": string(p.Role)}}
	if p.Kind == accounts.KindOIDC {
		at.ActorName = p.Email
	}
	a.cfg.Denied.Record(c.UserContext(), at)
}

// hiddenDevice reports why a device route answered 404 when the device exists: it belongs to
// another organization ("other_organization") or lies outside the principal's label scope ("out_of_scope").
// It returns "" when there is no such device.
func (a *API) hiddenDevice(c *fiber.Ctx, p accounts.Principal) (reason, target string) {
	if !strings.HasPrefix(c.Route().Path, "/api/v1/devices/:id") && !strings.HasPrefix(c.Route().Path, "/devices/:id") {
		return "", ""
	}
	id := c.Params("id")
	if !store.ValidID(id) {
		return "", ""
	}
	org, err := a.cfg.Store.Lookup(c.UserContext(), store.LookupDevice, id)
	switch {
	case err != nil:
		return "", ""
	case org != p.OrgID:
		return "other_organization", "device:" + id
	}
	return "out_of_scope", "device:" + id
}
