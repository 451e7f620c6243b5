package api

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/internal/qrcode"
)

type tokensView struct {
	TokenType        string    `json:"token_type"`
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	// MFAEnrollmentRequired: the session may only enroll MFA (the organization requires it).
	MFAEnrollmentRequired bool `json:"mfa_enrollment_required"`
	// DeviceToken (logins of clients other than the dashboard, which gets it as a cookie)
	// vouches for this client at its next logins: send it back as device_token.
	DeviceToken string `json:"device_token,omitempty"`
}

func tokens(t accounts.Tokens) tokensView {
	return tokensView{TokenType: "Bearer", AccessToken: t.Access, AccessExpiresAt: t.AccessExpiresAt, RefreshToken: t.Refresh, RefreshExpiresAt: t.RefreshExpiresAt,
		MFAEnrollmentRequired: t.MFAEnrollmentRequired, DeviceToken: t.Device}
}

type loginRequest struct {
	Org          string `json:"org"`
	Email        string `json:"email"`
	Password     string `json:"password"`
	TOTP         string `json:"totp"`
	RecoveryCode string `json:"recovery_code"`
	// DeviceToken is what an earlier login of this client answered as device_token (kvmctl
	// and other non-browser clients; the dashboard's browser sends the cookie instead).
	DeviceToken string `json:"device_token,omitempty"`
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
		TOTP: req.TOTP, RecoveryCode: req.RecoveryCode, ClientAddr: c.IP(), DeviceToken: deviceToken(c, req)})
	if err != nil {
		return a.failErr(c, err)
	}
	if t.Device != "" {
		setCookie(c, DeviceCookie, authPath(c), t.Device, time.Now().Add(accounts.DeviceTTL))
	}
	return answerTokens(c, t)
}

// deviceToken is the device token a login request shows: the dashboard's cookie, or for
// other clients the one in the body.
func deviceToken(c *fiber.Ctx, req loginRequest) string {
	if v := c.Cookies(DeviceCookie); v != "" || webClient(c) {
		return v
	}
	return req.DeviceToken
}

// DeviceCookie holds the device token a login hands out: the browser shows it at its next
// logins, and a flood of wrong passwords at the account from elsewhere does not slow it down
// (OWASP "device cookies"; control/accounts/throttle.go). HttpOnly, SameSite=Strict, sent only
// to the auth routes.
const DeviceCookie = "kvmrelay_device"

// Cookie mode, for the browser dashboard: a request carrying WebClientHeader gets its refresh
// token as an HttpOnly cookie instead of in the JSON body, so no script on the page (nor
// anything injected into it) can read it. Refresh and logout then take the token from the
// cookie, but only with the header too: a page on another site can make the browser send the
// cookie (SameSite=Strict already stops that in current browsers), never a custom header
// without a CORS preflight this relay does not grant.
const (
	// WebClientHeader (with the value WebClientValue) selects cookie mode.
	WebClientHeader = "X-Kvmrelay-Client"
	WebClientValue  = "web"
	// RefreshCookie holds the refresh token in cookie mode. Its path is the auth routes' own
	// (/api/v1/auth), so the browser sends it nowhere else.
	RefreshCookie = "kvmrelay_refresh"
)

// webTokensView is tokensView without the refresh token, which went into the cookie.
type webTokensView struct {
	TokenType        string    `json:"token_type"`
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	// MFAEnrollmentRequired as in tokensView.
	MFAEnrollmentRequired bool `json:"mfa_enrollment_required"`
}

func webClient(c *fiber.Ctx) bool { return c.Get(WebClientHeader) == WebClientValue }

// answerTokens answers a login or refresh: the whole pair in the body, or in cookie mode the
// access token in the body and the refresh token in the cookie.
func answerTokens(c *fiber.Ctx, t accounts.Tokens) error {
	if !webClient(c) {
		return c.JSON(tokens(t))
	}
	setRefreshCookie(c, t.Refresh, t.RefreshExpiresAt)
	return c.JSON(webTokensView{TokenType: "Bearer", AccessToken: t.Access, AccessExpiresAt: t.AccessExpiresAt, RefreshExpiresAt: t.RefreshExpiresAt,
		MFAEnrollmentRequired: t.MFAEnrollmentRequired})
}

// authPath is the path of the auth routes as this request reached them (/api/v1/auth): the
// cookie's path, wherever the API group is mounted.
func authPath(c *fiber.Ctx) string {
	p := c.Path()
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

// setRefreshCookie sets (or, with an empty token, deletes) the refresh cookie. Secure whenever
// the request came over TLS (directly or, per X-Forwarded-Proto, through a proxy); a plain
// http relay on loopback (the demo) could not keep a Secure cookie.
func setRefreshCookie(c *fiber.Ctx, token string, expires time.Time) {
	setRefreshCookieAt(c, authPath(c), token, expires)
}

// setRefreshCookieAt is setRefreshCookie for a request outside the auth routes (a password
// change answers with new tokens), which names their path itself.
func setRefreshCookieAt(c *fiber.Ctx, path, token string, expires time.Time) {
	setCookie(c, RefreshCookie, path, token, expires)
}

// setCookie sets (or, with an empty value, deletes) an HttpOnly, SameSite=Strict cookie, Secure
// whenever the request came over TLS.
func setCookie(c *fiber.Ctx, name, path, token string, expires time.Time) {
	ck := &fiber.Cookie{
		Name:     name,
		Value:    token,
		Path:     path,
		Expires:  expires,
		Secure:   c.Protocol() == "https",
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode,
	}
	if token == "" {
		ck.Expires = time.Unix(0, 0)
		ck.MaxAge = -1
	}
	c.Cookie(ck)
}

// refreshTokenOf is the refresh token of a refresh or logout: the body's, else the cookie's.
// fromCookie says the cookie supplied it; ok is false when the request was answered here
// (a cookie without the header: refused as a possible cross-site request).
func refreshTokenOf(c *fiber.Ctx, req refreshRequest) (token string, fromCookie, ok bool) {
	if req.RefreshToken != "" {
		return req.RefreshToken, false, true
	}
	ck := c.Cookies(RefreshCookie)
	if ck == "" {
		return "", false, true
	}
	if !webClient(c) {
		_ = fail(c, fiber.StatusForbidden, CodeForbidden, "A refresh token from the cookie needs the header "+WebClientHeader+": "+WebClientValue+" (the dashboard sends it).")
		return "", true, false
	}
	return ck, true, true
}

// optionalBody parses a JSON body when there is one: cookie-mode refresh and logout may send
// none.
func optionalBody(c *fiber.Ctx, v any) bool {
	if len(c.Body()) == 0 {
		return true
	}
	return body(c, v)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (a *API) refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if !optionalBody(c, &req) {
		return nil
	}
	tok, fromCookie, ok := refreshTokenOf(c, req)
	if !ok {
		return nil
	}
	if tok == "" {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, `Send {"refresh_token": "..."} (or, in a browser, the refresh cookie with `+WebClientHeader+": "+WebClientValue+`); otherwise log in again.`)
	}
	t, err := a.cfg.Accounts.Refresh(c.UserContext(), tok, c.IP())
	if err != nil {
		if fromCookie && (errors.Is(err, accounts.ErrInvalidToken) || errors.Is(err, accounts.ErrTokenReused)) {
			// The cookie's token is dead (used, revoked, expired): drop it, so the browser
			// stops sending it and the page goes back to signing in.
			setRefreshCookie(c, "", time.Time{})
		}
		return a.failErr(c, err)
	}
	return answerTokens(c, t)
}

func (a *API) logout(c *fiber.Ctx) error {
	var req refreshRequest
	if !optionalBody(c, &req) {
		return nil
	}
	tok, _, ok := refreshTokenOf(c, req)
	if !ok {
		return nil
	}
	if webClient(c) {
		// Whatever becomes of the token, this browser is signed out.
		setRefreshCookie(c, "", time.Time{})
		if tok == "" {
			return c.SendStatus(fiber.StatusNoContent)
		}
	}
	if err := a.cfg.Accounts.Logout(c.UserContext(), tok); err != nil {
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
	u, err := a.cfg.Accounts.AcceptInvite(c.UserContext(), req.Token, req.Password, c.IP())
	if err != nil {
		return a.failErr(c, err)
	}
	out := acceptedView{userView: user(u)}
	// The new member signs in with the organization's slug, which the invitation link does
	// not carry: tell them (the dashboard signs them in with it at once).
	if o, err := a.org(c, u.OrgID); err != nil {
		a.log.Warn("accepted invitation: organization unreadable", "org", u.OrgID, "err", err)
	} else {
		out.OrgSlug, out.OrgName = o.Slug, o.Name
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

// acceptedView is the new user plus the organization they joined.
type acceptedView struct {
	userView
	OrgSlug string `json:"org_slug"`
	OrgName string `json:"org_name"`
}

type meView struct {
	OrgID   string            `json:"org_id"`
	OrgSlug string            `json:"org_slug"`
	Kind    string            `json:"kind"`
	ID      string            `json:"id"`
	Email   string            `json:"email"`
	Role    string            `json:"role"`
	Scope   map[string]string `json:"scope"`
	// MFAEnabled: a user with a confirmed TOTP.
	MFAEnabled bool `json:"mfa_enabled"`
	// MFAEnrollmentRequired: the organization requires MFA and this user has none; this
	// session may only enroll it.
	MFAEnrollmentRequired bool `json:"mfa_enrollment_required"`
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
	return c.JSON(meView{OrgID: p.OrgID, OrgSlug: org.Slug, Kind: p.Kind, ID: p.ID, Email: p.Email, Role: string(p.Role), Scope: scope,
		MFAEnabled: p.MFAEnabled, MFAEnrollmentRequired: p.MFAEnrollmentRequired})
}

type totpBegin struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	// QRCode is the otpauth URL's QR code, an SVG image as a data: URL. Drawn here, with the
	// Go encoder kvmctl uses for the terminal, so the dashboard bundles no encoder of its own
	// and the secret never leaves the answer it already travels in.
	QRCode string `json:"qr_code"`
}

func (a *API) beginTOTP(c *fiber.Ctx) error {
	secret, u, err := a.cfg.Accounts.BeginTOTP(c.UserContext(), principalOf(c))
	if err != nil {
		return a.failErr(c, err)
	}
	qr, err := qrcode.SVGDataURL(u)
	if err != nil {
		// The secret and URL still work when typed in: answer without the picture.
		a.log.Error("TOTP QR code not drawn", "err", err)
	}
	return c.JSON(totpBegin{Secret: secret, OTPAuthURL: u, QRCode: qr})
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

// regenerateRecoveryCodes replaces the caller's recovery codes, given a current TOTP code.
func (a *API) regenerateRecoveryCodes(c *fiber.Ctx) error {
	var req codeRequest
	if !body(c, &req) {
		return nil
	}
	if req.Code == "" {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, `Send {"code": "123456"}: a current code from your authenticator app.`)
	}
	codes, err := a.cfg.Accounts.RegenerateRecoveryCodes(c.UserContext(), principalOf(c), req.Code)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(recoveryCodes{RecoveryCodes: codes})
}
