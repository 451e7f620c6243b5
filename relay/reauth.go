package relay

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// sessionEndTimeout bounds telling the other nodes that a session ended; past it their
// periodic session check ends the console instead.
const sessionEndTimeout = 2 * time.Second

// sessionEnder is the sessions manager's Disconnector: a session the control plane ended (an
// admin's stop, the reconciler, a right removed, a revoked device) ends at once on every relay
// node, its console told why and its TURN allocations closed (see turnRevoker).
type sessionEnder struct {
	sig *signaling.Server
	log *slog.Logger
}

func (e sessionEnder) EndSession(sid, reason string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), sessionEndTimeout)
	defer cancel()
	here, err := e.sig.EndSessionEverywhere(ctx, sid, reason)
	if err != nil {
		e.log.Warn("session ended here; other nodes end it at their next session check", "sid", sid, "err", err)
	}
	return here
}

// turnRevoker ends, on this node, the TURN allocations of sessions that ended (on any node):
// the credentials minted for a session (its id is their user part) stop working for new
// allocations and for requests on existing ones, and its allocations are closed. The
// revocation outlives every credential minted before it: their lifetime is at most ttl, plus
// a margin for clocks of nodes that minted them.
func (r *Relay) turnRevoker() func(sid string) {
	if r.turn == nil {
		return nil // an external TURN server has no way to be told
	}
	ttl := r.cfg.CredentialTTL + time.Minute
	return func(sid string) { r.turn.Revoke(sid, time.Now().Add(ttl)) }
}

// sessionRefusal answers a console link whose session may not be opened: no longer allowed to
// its principal (403), or ended (401), with the reason it ended when there is one.
func sessionRefusal(err error) (int, apiError) {
	reason := sessions.EndReason(err)
	switch {
	case errors.Is(err, sessions.ErrNotAllowed):
		return fiber.StatusForbidden, apiError{Code: "not-allowed", Message: "This console link no longer works: " + reason +
			". Ask an admin for access, then start a new console."}
	case reason != "":
		return fiber.StatusUnauthorized, apiError{Code: "session-ended", Message: "This console session has ended (" + reason +
			"). Start a new one (kvmctl console start DEVICE)."}
	}
	return fiber.StatusUnauthorized, apiError{Code: "session-ended",
		Message: "This console session has ended or was stopped. Start a new one (kvmctl console start DEVICE)."}
}
