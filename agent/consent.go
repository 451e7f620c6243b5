package agent

import (
	"context"
	"errors"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// consentTimeout bounds one code's trip to the machine and back.
const consentTimeout = 15 * time.Second

// consentReport is the exchange's status as the consoles' message.
func consentReport(st device.ConsentStatus) wire.Consent {
	c := wire.Consent{State: wire.ConsentNone, Attempts: st.Attempts}
	switch st.State {
	case device.ConsentRequired:
		c.State, c.ExpiresAt = wire.ConsentRequired, st.Expires
		// Text from the machine's management: printable, whole characters, within bounds.
		c.Error = safetext.Clean(st.Error, wire.MaxConsentError)
	case device.ConsentAccepted:
		c.State = wire.ConsentAccepted
	case device.ConsentExpired:
		c.State = wire.ConsentExpired
	case device.ConsentCancelled:
		c.State = wire.ConsentCancelled
	}
	return c
}

// reportConsent tells every console of m of every change of its consent exchange, until ctx
// ends: the consoles show the code prompt, and the relay moves their sessions.
func (a *Agent) reportConsent(ctx context.Context, m *machine) {
	c := m.consent
	for {
		changed := c.Changed()
		if st := c.Status(); st.State != device.ConsentNone {
			report := consentReport(st)
			for _, sid := range a.sessionIDs(m) {
				a.send(sid, wire.TypeConsent, report)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// tellConsent sends a console that just joined the exchange's status while a code is asked.
func (a *Agent) tellConsent(sid string, m *machine) {
	if m.consent == nil {
		return
	}
	if st := m.consent.Status(); st.State == device.ConsentRequired {
		a.send(sid, wire.TypeConsent, consentReport(st))
	}
}

// handleConsentCode hands a console's code (or cancel) to the waiting source, if the console
// is the participant in control (others are answered the status with why not). The answer
// reaches the consoles as the exchange's next status; a code with nothing asked is answered
// "none" to the console that sent it.
func (a *Agent) handleConsentCode(ctx context.Context, sid string, code wire.ConsentCode) {
	var c *device.Consent
	if s := a.session(sid); s != nil {
		c = s.machine.consent
	}
	if c == nil {
		a.send(sid, wire.TypeConsent, wire.Consent{State: wire.ConsentNone})
		return
	}
	if !a.inControl(sid) {
		answer := consentReport(c.Status())
		answer.ID, answer.Error = code.ID, refuseConsent
		a.send(sid, wire.TypeConsent, answer)
		return
	}
	if code.Cancel {
		if !c.Cancel() {
			a.send(sid, wire.TypeConsent, wire.Consent{ID: code.ID, State: wire.ConsentNone})
			return
		}
		a.send(sid, wire.TypeConsent, wire.Consent{ID: code.ID, State: wire.ConsentCancelled})
		return
	}
	a.wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, consentTimeout)
		defer cancel()
		err := c.Submit(ctx, code.Code)
		if errors.Is(err, device.ErrNoConsentPending) {
			a.send(sid, wire.TypeConsent, wire.Consent{ID: code.ID, State: wire.ConsentNone})
			return
		}
		if err != nil {
			a.log.Info("consent code refused", "sid", sid, "err", err)
		}
		// The answer to this code, for whoever sent it (the API waits for its id); every
		// console also got the exchange's new status.
		answer := consentReport(c.Status())
		answer.ID = code.ID
		if err != nil && answer.State == wire.ConsentRequired && answer.Error == "" {
			answer.Error = safetext.Clean(err.Error(), wire.MaxConsentError)
		}
		a.send(sid, wire.TypeConsent, answer)
	})
}

// sessionIDs lists the sessions showing m.
func (a *Agent) sessionIDs(m *machine) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]string, 0, len(a.sessions))
	for sid, s := range a.sessions {
		if s.machine == m {
			ids = append(ids, sid)
		}
	}
	return ids
}
