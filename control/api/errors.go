package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// Error is every error body.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Stable error codes.
const (
	CodeBadRequest   = "bad-request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not-found"
	CodeConflict     = "conflict"
	CodeRateLimited  = "rate-limited"
	// CodeAccountSlowed (429): wrong passwords from elsewhere slow the account down; a current
	// authenticator code (totp) with the password signs its user in at once.
	CodeAccountSlowed = "account-slowed"
	CodeMFARequired   = "mfa-required"
	// CodeMFAEnrollmentRequired: the organization requires MFA and this session's user has
	// none; the session may only enroll it.
	CodeMFAEnrollmentRequired = "mfa-enrollment-required"
	CodeInvalidToken          = "invalid-token"
	CodeInternal              = "internal"
	CodeUnavailable           = "unavailable" // busy: retry after Retry-After
	// CodeGone (410): a share link that no longer works (revoked, expired, its console ended).
	CodeGone = "gone"
)

// mfaEnrollmentMessage is what a session restricted to enrolling MFA is told elsewhere.
const mfaEnrollmentMessage = "Your organization requires MFA: turn it on first (kvmctl mfa enable, or Account in the dashboard); until then this session can only do that."

// fail answers with status, code and a message for people.
func fail(c *fiber.Ctx, status int, code, msg string) error {
	return c.Status(status).JSON(Error{Code: code, Message: msg})
}

// failErr maps a service error to an answer; what it does not know is a 500 whose detail goes
// to the log only.
func (a *API) failErr(c *fiber.Ctx, err error) error {
	var rl *accounts.RateLimitError
	var conflict *device.ConflictError
	var badRequest *device.RequestError
	var refused *sessions.RefusedError
	if ok, answered := shareFailure(c, err); ok {
		return answered
	}
	switch {
	case errors.As(err, &rl) && rl.Account:
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((rl.RetryAfter+time.Second-1)/time.Second)))
		return fail(c, fiber.StatusTooManyRequests, CodeAccountSlowed, "Many wrong passwords were tried at this account from elsewhere, so it is slowed down: wait "+
			rl.RetryAfter.Round(time.Second).String()+", or, if your account has two-factor authentication, sign in now with the code from your authenticator app.")
	case errors.As(err, &rl):
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((rl.RetryAfter+time.Second-1)/time.Second)))
		return fail(c, fiber.StatusTooManyRequests, CodeRateLimited, "Too many attempts; wait "+rl.RetryAfter.Round(time.Second).String()+" and try again.")
	case errors.Is(err, accounts.ErrRateLimited):
		return fail(c, fiber.StatusTooManyRequests, CodeRateLimited, "Too many attempts; wait a minute and try again.")
	case errors.Is(err, accounts.ErrBusy):
		c.Set(fiber.HeaderRetryAfter, "1")
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "The relay is checking too many passwords at once; try again in a second.")
	case errors.Is(err, accounts.ErrBadCredentials):
		return fail(c, fiber.StatusUnauthorized, CodeUnauthorized, "Organization, email or password (or the one-time code) is wrong.")
	case errors.Is(err, accounts.ErrMFARequired):
		return fail(c, fiber.StatusUnauthorized, CodeMFARequired, "Enter the code from your authenticator app (or a recovery code).")
	case errors.Is(err, accounts.ErrTokenReused):
		return fail(c, fiber.StatusUnauthorized, CodeInvalidToken, "This refresh token was already used, so every session from that login was ended. Log in again.")
	case errors.Is(err, accounts.ErrInvalidToken):
		return fail(c, fiber.StatusUnauthorized, CodeInvalidToken, "The token is invalid, used or expired. Log in again (or ask an admin for a new invitation or reset link).")
	case errors.Is(err, accounts.ErrWrongPassword):
		c.Locals(localsAuditedByService, true) // a failed login, audited as one: not a refusal
		return fail(c, fiber.StatusForbidden, CodeForbidden, "The current password is wrong; nothing was changed. (Forgot it? Ask an admin for a reset link.)")
	case errors.Is(err, accounts.ErrMFAEnrollmentRequired):
		return fail(c, fiber.StatusForbidden, CodeMFAEnrollmentRequired, mfaEnrollmentMessage)
	case errors.Is(err, accounts.ErrForbidden):
		return fail(c, fiber.StatusForbidden, CodeForbidden, "Your role does not allow this.")
	case errors.As(err, &conflict):
		return fail(c, fiber.StatusConflict, CodeConflict, conflict.Msg)
	case errors.As(err, &badRequest):
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, badRequest.Msg)
	case errors.As(err, &refused):
		return fail(c, fiber.StatusConflict, CodeConflict, refused.Msg)
	case errors.Is(err, device.ErrOutOfScope):
		return fail(c, fiber.StatusForbidden, CodeForbidden, "You may only give devices labels inside your label scope; add its labels.")
	case errors.Is(err, accounts.ErrInvalid), errors.Is(err, store.ErrInvalid):
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "The request is invalid: "+publicReason(err))
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return fail(c, fiber.StatusNotFound, CodeNotFound, "Not found in your organization.")
	case errors.Is(err, accounts.ErrConflict), errors.Is(err, store.ErrConflict):
		return fail(c, fiber.StatusConflict, CodeConflict, "That already exists or was changed meanwhile; reload and try again.")
	case errors.Is(err, sessions.ErrDeviceRevoked):
		return fail(c, fiber.StatusConflict, CodeConflict, "This device is revoked; enroll it again as a new device.")
	case errors.Is(err, accounts.ErrMail):
		return fail(c, fiber.StatusBadGateway, CodeInternal, "The link was created but the mail could not be sent; check the SMTP settings, then send it again.")
	}
	a.log.Error("api request failed", "method", c.Method(), "path", c.Path(), "err", err)
	return fail(c, fiber.StatusInternalServerError, CodeInternal, "Internal error; the relay logged the details.")
}

// publicReason is the part of a validation error safe to show: the outermost message, which
// our own code writes (never driver text, which ErrInvalid never wraps).
func publicReason(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
