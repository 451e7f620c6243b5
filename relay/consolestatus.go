package relay

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// consoleStatusResponse tells a console whether its session can still be joined.
type consoleStatusResponse struct {
	Live    bool   `json:"live"`
	Message string `json:"message,omitempty"` // when not live: why, and what to do next
}

// consoleStatus answers a console whose WebSocket upgrade failed: browsers show a refused
// upgrade (401, 403) only as code 1006, the same as a network that went away, so without this
// a console whose session ended while it was away (its reconnect grace ran out, it was
// stopped) would keep retrying. It authenticates with the console token (Authorization:
// Bearer) and reads the session; it changes nothing (a principal found to have lost its right
// to the session has it stopped, as at every other check).
func (r *Relay) consoleStatus(c *fiber.Ctx) error {
	tok := strings.TrimSpace(strings.TrimPrefix(c.Get(fiber.HeaderAuthorization), "Bearer "))
	claims, err := r.issuer.Verify(tok, auth.AudienceConsole)
	if err != nil {
		return c.JSON(consoleStatusResponse{Message: "This console's token is no longer valid (it expired, or the relay's key changed). Start a new console."})
	}
	if claims.Tenant == "" {
		// A console of `kvmrelay token console` without a control-plane session: the token
		// alone decides, and it is valid.
		return c.JSON(consoleStatusResponse{Live: true})
	}
	err = r.control.sessions.Redeemable(c.UserContext(), claims)
	switch {
	case err == nil:
		return c.JSON(consoleStatusResponse{Live: true})
	case errors.Is(over(err), signaling.ErrSessionOver): // the same line signaling draws
		msg := "This console session has ended. Start a new console to connect again."
		if reason := sessions.EndReason(err); reason != "" {
			msg = "This console session has ended (" + reason + "). Start a new console to connect again."
		} else if errors.Is(err, sessions.ErrDeviceRevoked) {
			msg = "This console session has ended: its device was revoked."
		}
		return c.JSON(consoleStatusResponse{Message: msg})
	default:
		r.log.Warn("console status: cannot read the session", "sid", claims.Session, "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(apiError{Code: "unavailable", Message: "The relay cannot reach its database right now; the console keeps trying."})
	}
}
