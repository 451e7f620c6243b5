package api

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
)

// Password change, password reset links, disabling users and resetting their MFA.

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// mePasswordPath is the route of a password change, under the API group.
const mePasswordPath = "/me/password"

// changePassword sets the caller's password. Every other session of the user ends, the
// caller's own included (its access token was minted before the change): the answer carries
// a new pair, as a login does (in cookie mode, the refresh token in the cookie).
func (a *API) changePassword(c *fiber.Ctx) error {
	var req changePasswordRequest
	if !body(c, &req) {
		return nil
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, `Send {"current_password": "...", "new_password": "..."}; the new password needs at least 12 characters.`)
	}
	t, err := a.cfg.Accounts.ChangePassword(c.UserContext(), principalOf(c), req.CurrentPassword, req.NewPassword, c.IP())
	if err != nil {
		return a.failErr(c, err)
	}
	if !webClient(c) {
		return c.JSON(tokens(t))
	}
	// The refresh cookie belongs to the auth routes' path, next to this one in the group.
	authRoutes := strings.TrimSuffix(c.Path(), mePasswordPath) + "/auth"
	setRefreshCookieAt(c, authRoutes, t.Refresh, t.RefreshExpiresAt)
	return c.JSON(webTokensView{TokenType: "Bearer", AccessToken: t.Access, AccessExpiresAt: t.AccessExpiresAt, RefreshExpiresAt: t.RefreshExpiresAt})
}

type passwordResetView struct {
	// Link is empty when it was mailed to the user.
	Link      string    `json:"link"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
	// MailError says the mail could not be sent; Link is then set, for the admin to pass on.
	MailError string `json:"mail_error,omitempty"`
}

func (a *API) issuePasswordReset(c *fiber.Ctx) error {
	link, r, err := a.cfg.Accounts.IssuePasswordReset(c.UserContext(), principalOf(c), c.Params("id"))
	out := passwordResetView{Link: link, UserID: r.UserID, ExpiresAt: r.ExpiresAt}
	switch {
	case errors.Is(err, accounts.ErrMail) && link != "":
		// The reset stands: hand the link to the admin rather than lose it.
		a.log.Warn("password reset mail not sent; link returned to the admin", "user", r.UserID, "err", err)
		out.MailError = "The mail could not be sent (check the SMTP settings); pass this link on yourself."
	case err != nil:
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// acceptPasswordReset redeems a reset link (public: the user cannot log in yet).
func (a *API) acceptPasswordReset(c *fiber.Ctx) error {
	var req resetRequest
	if !body(c, &req) {
		return nil
	}
	if req.Token == "" || req.Password == "" {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, `Send {"token": "kvmp_...", "password": "..."}: the token from the reset link, a new password of at least 12 characters.`)
	}
	u, err := a.cfg.Accounts.ResetPassword(c.UserContext(), req.Token, req.Password, c.IP())
	if err != nil {
		return a.failErr(c, err)
	}
	out := acceptedView{userView: user(u)}
	// As after an invitation: the link does not carry the organization the user signs in to.
	if o, err := a.org(c, u.OrgID); err != nil {
		a.log.Warn("password reset: organization unreadable", "org", u.OrgID, "err", err)
	} else {
		out.OrgSlug, out.OrgName = o.Slug, o.Name
	}
	return c.JSON(out)
}

type disabledView struct {
	User userView `json:"user"`
	// SessionsStopped counts the consoles of the user that were ended.
	SessionsStopped int `json:"sessions_stopped"`
}

// disableUser disables a user and ends their consoles. Repeating it is harmless (and stops
// consoles again, should stopping have failed the first time).
func (a *API) disableUser(c *fiber.Ctx) error {
	p := principalOf(c)
	ctx := c.UserContext()
	u, err := a.cfg.Accounts.SetDisabled(ctx, p, c.Params("id"), true)
	if err != nil {
		return a.failErr(c, err)
	}
	n, err := a.cfg.Sessions.StopPrincipal(ctx, p.OrgID, "user:"+u.ID, p.String(), "user disabled")
	if err != nil {
		a.log.Error("disabled user's consoles not all stopped", "org", p.OrgID, "user", u.ID, "stopped", n, "err", err)
		return fail(c, fiber.StatusInternalServerError, CodeInternal, "The user is disabled, but not all of their consoles could be stopped; disable them again to retry.")
	}
	return c.JSON(disabledView{User: user(u), SessionsStopped: n})
}

func (a *API) enableUser(c *fiber.Ctx) error {
	u, err := a.cfg.Accounts.SetDisabled(c.UserContext(), principalOf(c), c.Params("id"), false)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(user(u))
}

func (a *API) resetMFA(c *fiber.Ctx) error {
	if err := a.cfg.Accounts.ResetMFA(c.UserContext(), principalOf(c), c.Params("id")); err != nil {
		return a.failErr(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
