package api

import (
	"github.com/gofiber/fiber/v2"
)

// reauthorizeAfter runs a route that may take a right away (Route.Narrows), then re-derives
// the rights of the organization's live console sessions and unredeemed console links:
// whatever the change left unauthorized is stopped at once, on every relay node, with the
// reason (sessions.Manager.Reauthorize). It runs whatever the route answered: a request that
// failed half way (PATCH /users/{id} lowering the role, then refused the scope) may have
// changed something, and re-deriving what did not change stops nothing. The change itself is
// committed by then; should the re-check fail (a store outage), the consoles' periodic check,
// which derives the same rights, ends them within one interval instead.
func (a *API) reauthorizeAfter(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		herr := next(c)
		p := principalOf(c)
		n, err := a.cfg.Sessions.Reauthorize(c.UserContext(), p.OrgID, p.String())
		if err != nil {
			a.log.Error("live consoles not re-authorized after a change of rights; their next session check will",
				"org", p.OrgID, "path", c.Path(), "stopped", n, "err", err)
			return herr
		}
		if n > 0 {
			a.log.Info("consoles ended: a change took their right away", "org", p.OrgID, "path", c.Path(), "stopped", n, "by", p.String())
		}
		return herr
	}
}
