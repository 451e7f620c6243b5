package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// ConsentRelay hands a consent code (or a cancel) to a session's device agent, on whichever
// relay node holds it, and returns the agent's answer.
type ConsentRelay interface {
	SubmitConsent(ctx context.Context, deviceID, sid, code string) (ConsentAnswer, error)
	CancelConsent(ctx context.Context, deviceID, sid string) (ConsentAnswer, error)
}

// ConsentAnswer is the agent's report after a code: State is "accepted", "required" (Error
// says why the code was refused), "expired", "cancelled" or "none" (nothing was asked).
type ConsentAnswer struct {
	State     string
	ExpiresAt time.Time
	Error     string
	Attempts  int
}

// ErrNoConsentAnswer is what a ConsentRelay returns when the agent did not answer in time.
var ErrNoConsentAnswer = errors.New("api: the device's agent did not answer")

type consentView struct {
	State string `json:"state"`
	// ExpiresAt and SecondsLeft are the consent window, while a code is asked.
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	SecondsLeft *int       `json:"seconds_left,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`
}

type consentCodeBody struct {
	Code string `json:"code"`
}

// consentSession reads the session a consent route names, checks it belongs to the device in
// the path and that the principal may answer for it (its holder, or a device manager).
func (a *API) consentSession(c *fiber.Ctx, p accounts.Principal) (store.ConsoleSession, bool) {
	s, err := a.sessionFor(c, p, c.Params("sid"))
	if err == nil && s.DeviceID != c.Params("id") {
		err = store.ErrNotFound
	}
	if err != nil {
		_ = a.failErr(c, err)
		return s, false
	}
	if !mayStop(p, s) {
		_ = fail(c, fiber.StatusForbidden, CodeForbidden, "Only the person who opened this console, or an admin, may answer its consent request.")
		return s, false
	}
	return s, true
}

func (a *API) consentStatus(s store.ConsoleSession) consentView {
	v := consentView{State: "none", Reason: s.Reason}
	if s.Current == store.SessionConsentRequired {
		v.State = "required"
		if s.ConsentExpiresAt != nil {
			left := max(int(time.Until(*s.ConsentExpiresAt).Seconds()), 0)
			v.ExpiresAt, v.SecondsLeft = s.ConsentExpiresAt, &left
		}
	}
	return v
}

func (a *API) getConsent(c *fiber.Ctx) error {
	p := principalOf(c)
	s, ok := a.consentSession(c, p)
	if !ok {
		return nil
	}
	return c.JSON(a.consentStatus(s))
}

func (a *API) submitConsent(c *fiber.Ctx) error {
	p := principalOf(c)
	s, ok := a.consentSession(c, p)
	if !ok {
		return nil
	}
	var b consentCodeBody
	if !body(c, &b) {
		return nil
	}
	code, err := consentCode(b.Code)
	if err != nil {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "The consent code is the 6 digits the machine shows on its screen.")
	}
	if s.Current != store.SessionConsentRequired {
		return fail(c, fiber.StatusConflict, CodeConflict, fmt.Sprintf("This console session is not waiting for a consent code (it is %s).", s.Current))
	}
	if a.cfg.Consent == nil {
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "This relay cannot reach agents for consent.")
	}
	ctx := c.UserContext()
	if err := a.cfg.Sessions.ConsentCodeEntered(ctx, p.OrgID, s.ID, p.String(), false); err != nil {
		return a.failErr(c, err)
	}
	ans, err := a.cfg.Consent.SubmitConsent(ctx, s.DeviceID, s.ID, code)
	return a.answerConsent(c, s, ans, err)
}

func (a *API) cancelConsent(c *fiber.Ctx) error {
	p := principalOf(c)
	s, ok := a.consentSession(c, p)
	if !ok {
		return nil
	}
	if s.Current != store.SessionConsentRequired {
		return fail(c, fiber.StatusConflict, CodeConflict, fmt.Sprintf("This console session is not waiting for a consent code (it is %s).", s.Current))
	}
	if a.cfg.Consent == nil {
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "This relay cannot reach agents for consent.")
	}
	ctx := c.UserContext()
	if err := a.cfg.Sessions.ConsentCodeEntered(ctx, p.OrgID, s.ID, p.String(), true); err != nil {
		return a.failErr(c, err)
	}
	ans, err := a.cfg.Consent.CancelConsent(ctx, s.DeviceID, s.ID)
	return a.answerConsent(c, s, ans, err)
}

// answerConsent words the agent's answer: what happened and what to do next.
func (a *API) answerConsent(c *fiber.Ctx, s store.ConsoleSession, ans ConsentAnswer, err error) error {
	if errors.Is(err, ErrNoConsentAnswer) {
		return fail(c, fiber.StatusGatewayTimeout, CodeUnavailable, "The device's agent did not answer; check that it is connected, then try again.")
	}
	if err != nil {
		return a.failErr(c, err)
	}
	v := consentView{State: ans.State, Attempts: ans.Attempts}
	switch ans.State {
	case "accepted":
		v.Reason = "The machine accepted the code; the console connects."
		return c.JSON(v)
	case "cancelled":
		v.Reason = "The consent request was cancelled; the session ends."
		return c.JSON(v)
	case "required":
		until := ""
		if !ans.ExpiresAt.IsZero() {
			until = " until " + ans.ExpiresAt.UTC().Format("15:04:05 UTC")
		}
		why := ans.Error
		if why == "" {
			why = "the code was not accepted"
		}
		return fail(c, fiber.StatusUnprocessableEntity, "consent-refused",
			fmt.Sprintf("The machine refused the code (%s); check the code on its screen and try again%s.", why, until))
	case "expired":
		return fail(c, fiber.StatusGone, "consent-expired", "The consent window closed before a right code; open the console again for a new code.")
	}
	return fail(c, fiber.StatusConflict, CodeConflict, "The machine is not asking for a consent code (any more).")
}

// consentCode takes the 6 digits out of what a person typed ("123 456", "123-456").
func consentCode(typed string) (string, error) {
	digits := make([]byte, 0, 6)
	for i := 0; i < len(typed); i++ {
		switch ch := typed[i]; {
		case ch >= '0' && ch <= '9' && len(digits) < 6:
			digits = append(digits, ch)
		case ch == ' ' || ch == '-':
		default:
			return "", errors.New("not a 6-digit code")
		}
	}
	if len(digits) != 6 {
		return "", errors.New("not a 6-digit code")
	}
	return string(digits), nil
}
