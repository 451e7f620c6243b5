package relay

import (
	"context"
	"errors"

	"github.com/kvmrelay/kvmrelay/control/api"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// consentRecorder is signaling's ConsentRecorder: an agent's consent reports move the session
// through CONSENT_REQUIRED, and codes entered are audited, by the sessions manager.
type consentRecorder struct{ m *sessions.Manager }

func (c consentRecorder) ConsentReported(ctx context.Context, info signaling.SessionInfo, r wire.Consent) error {
	switch r.State {
	case wire.ConsentRequired:
		return c.m.ConsentRequired(ctx, info.Tenant, info.SID, r.ExpiresAt)
	case wire.ConsentAccepted:
		return c.m.ConsentAccepted(ctx, info.Tenant, info.SID, r.Attempts)
	case wire.ConsentExpired:
		return c.m.ConsentFailed(ctx, info.Tenant, info.SID, "expired", sessions.ReasonConsentExpired)
	case wire.ConsentCancelled:
		reason := sessions.ReasonConsentCancelled
		if r.Error != "" {
			reason += ": " + r.Error
		}
		return c.m.ConsentFailed(ctx, info.Tenant, info.SID, "cancelled", reason)
	}
	return nil
}

func (c consentRecorder) PowerAction(ctx context.Context, info signaling.SessionInfo, action, id string) error {
	return c.m.PowerAction(ctx, info.Tenant, info.SID, info.Principal, action, id, "asked")
}

func (c consentRecorder) PowerOutcome(ctx context.Context, info signaling.SessionInfo, action, id, errText string) error {
	outcome := "done"
	if errText != "" {
		outcome = "failed: " + errText
	}
	return c.m.PowerAction(ctx, info.Tenant, info.SID, "system", action, id, outcome)
}

func (c consentRecorder) ConsentCodeEntered(ctx context.Context, info signaling.SessionInfo, cancel bool) error {
	return c.m.ConsentCodeEntered(ctx, info.Tenant, info.SID, info.Principal, cancel)
}

// consentRelay is the API's ConsentRelay: codes reach the agent through signaling's bus.
type consentRelay struct{ sig *signaling.Server }

func (c consentRelay) SubmitConsent(ctx context.Context, deviceID, sid, code string) (api.ConsentAnswer, error) {
	return c.submit(ctx, deviceID, sid, wire.ConsentCode{Code: code})
}

func (c consentRelay) CancelConsent(ctx context.Context, deviceID, sid string) (api.ConsentAnswer, error) {
	return c.submit(ctx, deviceID, sid, wire.ConsentCode{Cancel: true})
}

func (c consentRelay) submit(ctx context.Context, deviceID, sid string, code wire.ConsentCode) (api.ConsentAnswer, error) {
	ans, err := c.sig.SubmitConsent(ctx, deviceID, sid, code)
	if errors.Is(err, signaling.ErrNoConsentAnswer) {
		return api.ConsentAnswer{}, api.ErrNoConsentAnswer
	}
	if err != nil {
		return api.ConsentAnswer{}, err
	}
	return api.ConsentAnswer{State: ans.State, ExpiresAt: ans.ExpiresAt, Error: ans.Error, Attempts: ans.Attempts}, nil
}
