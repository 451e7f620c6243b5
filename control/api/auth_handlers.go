package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
)

type tokensView struct {
	TokenType        string    `json:"token_type"`
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

func tokens(t accounts.Tokens) tokensView {
	return tokensView{TokenType: "Bearer", AccessToken: t.Access, AccessExpiresAt: t.AccessExpiresAt, RefreshToken: t.Refresh, RefreshExpiresAt: t.RefreshExpiresAt}
}

type loginRequest struct {
	Org          string `json:"org"`
	Email        string `json:"email"`
	Password     string `json:"password"`
	TOTP         string `json:"totp"`
	RecoveryCode string `json:"recovery_code"`
}

func (a *API) login(c *fiber.Ctx) error {
	var req loginRequest
	if !body(c, &req) {
		return nil
	}
	if req.Org == "" || req.Email == "" || req.Password == "" {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, `Send {"org","email","password"} (and "totp" when MFA is on).`)
	}
	t, err := a.cfg.Accounts.Login(c.UserContext(), accounts.LoginRequest{Org: req.Org, Email: req.Email, Password: req.Password,
		TOTP: req.TOTP, RecoveryCode: req.RecoveryCode, ClientAddr: c.IP()})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(tokens(t))
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (a *API) refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if !body(c, &req) {
		return nil
	}
	if req.RefreshToken == "" {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, `Send {"refresh_token": "..."}.`)
	}
	t, err := a.cfg.Accounts.Refresh(c.UserContext(), req.RefreshToken, c.IP())
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(tokens(t))
}

func (a *API) logout(c *fiber.Ctx) error {
	var req refreshRequest
	if !body(c, &req) {
		return nil
	}
	if err := a.cfg.Accounts.Logout(c.UserContext(), req.RefreshToken); err != nil {
		return a.failErr(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type acceptRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (a *API) acceptInvite(c *fiber.Ctx) error {
	var req acceptRequest
	if !body(c, &req) {
		return nil
	}
	u, err := a.cfg.Accounts.AcceptInvite(c.UserContext(), req.Token, req.Password)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(user(u))
}

type meView struct {
	OrgID   string            `json:"org_id"`
	OrgSlug string            `json:"org_slug"`
	Kind    string            `json:"kind"`
	ID      string            `json:"id"`
	Email   string            `json:"email"`
	Role    string            `json:"role"`
	Scope   map[string]string `json:"scope"`
}

func (a *API) me(c *fiber.Ctx) error {
	p := principalOf(c)
	org, err := a.org(c, p.OrgID)
	if err != nil {
		return a.failErr(c, err)
	}
	scope := p.Scope
	if scope == nil {
		scope = map[string]string{}
	}
	return c.JSON(meView{OrgID: p.OrgID, OrgSlug: org.Slug, Kind: p.Kind, ID: p.ID, Email: p.Email, Role: string(p.Role), Scope: scope})
}

type totpBegin struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

func (a *API) beginTOTP(c *fiber.Ctx) error {
	secret, u, err := a.cfg.Accounts.BeginTOTP(c.UserContext(), principalOf(c))
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(totpBegin{Secret: secret, OTPAuthURL: u})
}

type codeRequest struct {
	Code string `json:"code"`
}

type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (a *API) confirmTOTP(c *fiber.Ctx) error {
	var req codeRequest
	if !body(c, &req) {
		return nil
	}
	codes, err := a.cfg.Accounts.ConfirmTOTP(c.UserContext(), principalOf(c), req.Code)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(recoveryCodes{RecoveryCodes: codes})
}

func (a *API) disableTOTP(c *fiber.Ctx) error {
	var req codeRequest
	if !body(c, &req) {
		return nil
	}
	if err := a.cfg.Accounts.DisableTOTP(c.UserContext(), principalOf(c), req.Code); err != nil {
		return a.failErr(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
