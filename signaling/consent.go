package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ConsentRecorder is the control plane's record of out-of-band machine management: user
// consent (Intel AMT shows a 6-digit code on the managed machine's screen) and power actions.
// The relay moves the session's state and audits each step; signaling only routes the
// messages.
type ConsentRecorder interface {
	// ConsentReported records an agent's consent report for one of its device's sessions.
	ConsentReported(ctx context.Context, info SessionInfo, c wire.Consent) error
	// ConsentCodeEntered records that the session's holder entered a code (never the code
	// itself) or withdrew the request.
	ConsentCodeEntered(ctx context.Context, info SessionInfo, cancel bool) error
	// PowerAction records that the session's holder asked for a power action on the machine
	// (id names it), and PowerOutcome what the agent reported of it (errText empty: done).
	PowerAction(ctx context.Context, info SessionInfo, action, id string) error
	PowerOutcome(ctx context.Context, info SessionInfo, action, id, errText string) error
}

func (s *Server) powerAction(ctx context.Context, log *slog.Logger, info SessionInfo, a wire.PowerAction) {
	log.Info("power action asked", "sid", info.SID, "action", a.Action, "id", a.ID, "principal", info.Principal)
	if s.cfg.Consent == nil || info.Tenant == "" {
		return
	}
	if err := s.cfg.Consent.PowerAction(ctx, info, a.Action, a.ID); err != nil {
		log.Error("record power action", "sid", info.SID, "err", err)
	}
}

// powerReported audits the outcome of a power action the relay named (a report with its id).
func (s *Server) powerReported(ctx context.Context, log *slog.Logger, info SessionInfo, p wire.Power) {
	if p.ID == "" || p.Action == "" || s.cfg.Consent == nil || info.Tenant == "" {
		return
	}
	if err := s.cfg.Consent.PowerOutcome(ctx, info, p.Action, p.ID, p.Error); err != nil {
		log.Error("record power outcome", "sid", info.SID, "err", err)
	}
}

func (s *Server) consentReported(ctx context.Context, log *slog.Logger, info SessionInfo, c wire.Consent) {
	if s.cfg.Consent == nil || info.Tenant == "" {
		return
	}
	if err := s.cfg.Consent.ConsentReported(ctx, info, c); err != nil {
		log.Error("record consent report", "sid", info.SID, "state", c.State, "err", err)
	}
}

func (s *Server) consentCodeEntered(ctx context.Context, log *slog.Logger, info SessionInfo, cancel bool) {
	if s.cfg.Consent == nil || info.Tenant == "" {
		return
	}
	if err := s.cfg.Consent.ConsentCodeEntered(ctx, info, cancel); err != nil {
		log.Error("record consent code", "sid", info.SID, "err", err)
	}
}

// ErrNoConsentAnswer is returned when the agent did not answer a consent code in time.
var ErrNoConsentAnswer = errors.New("signaling: the device's agent did not answer the consent code")

// SubmitConsent hands a code (or a cancel) for a session to its device's agent, through the
// bus from any node, and returns the agent's answer to it (matched by an id the agent echoes):
// accepted, still required with the refusal in Error, cancelled, or none when nothing was
// asked. The caller has checked that the session's holder may do this and audits it.
func (s *Server) SubmitConsent(ctx context.Context, device, sid string, code wire.ConsentCode) (wire.Consent, error) {
	code.ID = auth.NewID("c_")
	if err := code.Check(); err != nil {
		return wire.Consent{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// Subscribe first: the answer must not pass before we listen.
	answers, err := s.cfg.Bus.Subscribe(ctx, consoleTopic(sid))
	if err != nil {
		return wire.Consent{}, fmt.Errorf("signaling: subscribe for the consent answer: %w", err)
	}
	msg, err := wire.Encode(wire.TypeConsentCode, sid, code)
	if err != nil {
		return wire.Consent{}, err
	}
	agent := device
	if info, err := s.cfg.Registry.Session(ctx, sid); err == nil && info.Device == device {
		agent = info.AgentDevice() // a gateway carries the session
	}
	if err := s.cfg.Bus.Publish(ctx, agentTopic(agent), msg); err != nil {
		return wire.Consent{}, fmt.Errorf("signaling: reach the agent: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return wire.Consent{}, ErrNoConsentAnswer
		case raw, ok := <-answers:
			if !ok {
				return wire.Consent{}, ErrNoConsentAnswer
			}
			env, err := wire.Decode(raw)
			if err != nil || env.Type != wire.TypeConsent || env.SID != sid {
				continue
			}
			var c wire.Consent
			if wire.DecodeData(env, &c) != nil || c.Check() != nil || c.ID != code.ID {
				continue // another console's answer, or the status every console gets
			}
			return c, nil
		}
	}
}
