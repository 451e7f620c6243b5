package sessions

import (
	"context"
	"errors"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// How a console's connection ends decides what happens to its session:
//
//   - The person pressed Disconnect: the console says so (a signaling `bye`) and the session
//     is STOPPED at once with ReasonClosedByUser.
//   - The connection went away without a word (tab closed, laptop asleep, network change): the
//     console may come back, so the session stays ACTIVE for ReconnectGrace counted from the
//     moment it left (Left records it) and is then STOPPED with ReasonConsoleGone by the
//     reconciler of whichever node runs first — the state is all in the store.
//   - A console link never opened: ERROR after LinkTTL, as before.

// Reasons recorded on a session's end, shown by the API, kvmctl and the dashboard.
const (
	ReasonClosedByUser = "closed by user"
	ReasonConsoleGone  = "console closed: it did not reconnect"
	// ReasonConsentExpired ends a session whose consent code was not entered in time.
	ReasonConsentExpired = "user consent expired: the code shown on the machine's screen was not entered in time; open the console again for a new code"
)

// DefaultReconnectGrace is ReconnectGrace when none is configured.
const DefaultReconnectGrace = 45 * time.Second

// Closed ends the session a console token names because its console said it is done (the
// person pressed Disconnect). The principal of the token is the actor. A session already
// ended stays as it is.
func (m *Manager) Closed(ctx context.Context, c auth.Claims) error {
	if err := m.Redeemable(ctx, c); err != nil {
		if errors.Is(err, ErrEnded) {
			return nil
		}
		return err
	}
	_, err := m.Stop(ctx, c.Tenant, c.Session, c.Subject, ReasonClosedByUser)
	return err
}

// Left records that a session's console connection went away without saying bye: the
// reconnect grace counts from now.
func (m *Manager) Left(ctx context.Context, c auth.Claims) error {
	now := m.now()
	return m.cfg.Store.Write(ctx, c.Tenant, func(tx store.Tx) error {
		s, _, err := m.checkClaims(ctx, tx, c)
		if err != nil {
			return err
		}
		return tx.TouchSession(ctx, s.ID, now)
	})
}
