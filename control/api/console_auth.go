package api

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/denied"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

const localsConsole = "kvmrelay.console"

// consoleCaller is a console presenting its console token (Route.Console): the console page
// has no API login, only the token of its session.
type consoleCaller struct {
	claims auth.Claims
	grant  wire.Grant // what its session's principal holds now, re-derived
}

// consoleAuthenticated checks a console token (audience kvmrelay-console) of a live
// control-plane session and re-derives its principal's rights now (sessions.ConsoleCaller);
// a principal who lost the right to the console has the session stopped, as at every check.
func (a *API) consoleAuthenticated(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok, ok := bearerOf(c)
		if !ok {
			return fail(c, fiber.StatusUnauthorized, CodeUnauthorized, "Send the console's token: Authorization: Bearer <console token>.")
		}
		claims, grant, err := a.cfg.Sessions.ConsoleCaller(c.UserContext(), tok)
		var end *sessions.EndError
		switch {
		case errors.As(err, &end) && errors.Is(err, sessions.ErrNotAllowed):
			return fail(c, fiber.StatusForbidden, CodeForbidden, "This console may no longer do this: "+end.Reason+".")
		case errors.Is(err, sessions.ErrEnded), errors.Is(err, sessions.ErrDeviceRevoked):
			return fail(c, fiber.StatusUnauthorized, CodeUnauthorized, "This console session has ended; start a new console.")
		case err != nil && (errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, sessions.ErrMismatch)):
			a.log.Info("console token refused", "remote", c.IP(), "path", c.Path(), "err", err)
			return fail(c, fiber.StatusUnauthorized, CodeUnauthorized, "The console's token is invalid or expired; reload the console.")
		case err != nil:
			return a.failErr(c, err)
		}
		c.Locals(localsConsole, consoleCaller{claims: claims, grant: grant})
		err = next(c)
		if c.Response().StatusCode() == fiber.StatusForbidden {
			path := c.Path()
			if len(path) > maxAuditedPath {
				path = path[:maxAuditedPath]
			}
			// A console asking for what its grant does not allow (a watching console sharing)
			// is a refusal like any other: audited within the principal's budget.
			a.cfg.Denied.Record(c.UserContext(), denied.Attempt{OrgID: claims.Tenant, Actor: claims.Subject,
				Target: "api:" + c.Method() + " " + c.Route().Path, Details: map[string]string{
					"request": c.Method() + " " + strings.ToValidUTF8(path, "\uFFFD"), "status": "403", "reason": "forbidden", "session": claims.Session,
					"grant": string(grant)}})
		}
		return err
	}
}

func consoleOf(c *fiber.Ctx) consoleCaller {
	cc, _ := c.Locals(localsConsole).(consoleCaller)
	return cc
}
