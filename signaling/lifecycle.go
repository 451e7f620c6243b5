package signaling

import (
	"context"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
)

// SessionLifecycle is told how the console connection of a control-plane session (a token
// naming a tenant) ended, so that the stored session tells the truth: a console that said `bye`
// was closed by its person and its session ends now; one that just went away may reconnect,
// and its session ends only if it does not within the control plane's reconnect grace.
type SessionLifecycle interface {
	// Closed: the console sent `bye`.
	Closed(ctx context.Context, c auth.Claims) error
	// Left: the connection ended without `bye` and no newer connection of the session took
	// over.
	Left(ctx context.Context, c auth.Claims) error
}

// consoleState is what the handler of one console connection keeps between messages.
type consoleState struct {
	live    *liveConn
	budget  *sessionBudget
	saidBye bool // the console ended its session; it did not just leave
	// closed says why the relay closed the connection (a malformed message, a budget), and
	// readErr why reading ended otherwise: for the audit of its leaving.
	closed  string
	readErr string
	// viewer is the relay's video peer connection to the console when its video is relayed
	// (viewers.go); only the connection's reading goroutine touches it.
	viewer ViewerPeer
}

// lifecycleTimeout bounds the store write made for a connection that is ending.
const lifecycleTimeout = 5 * time.Second

// sessionClaims are the claims of info's console token, as the control plane checks them.
func sessionClaims(info SessionInfo) auth.Claims {
	return auth.Claims{Subject: info.Principal, Audience: auth.AudienceConsole, Device: info.Device, Session: info.SID, Tenant: info.Tenant,
		Agent: info.Agent, Target: info.Target}
}

// consoleClosed tells the control plane that the console of info ended its session.
func (s *Server) consoleClosed(ctx context.Context, log *slog.Logger, info SessionInfo) {
	if info.Tenant == "" || s.cfg.Lifecycle == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifecycleTimeout)
	defer cancel()
	if err := s.cfg.Lifecycle.Closed(ctx, sessionClaims(info)); err != nil {
		log.Warn("could not end the session its console closed; the reconnect grace will", "err", err)
		return
	}
	log.Info("console closed its session")
}

// consoleGone tells the control plane that the console of info went away without `bye`.
func (s *Server) consoleGone(log *slog.Logger, info SessionInfo) {
	if info.Tenant == "" || s.cfg.Lifecycle == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lifecycleTimeout)
	defer cancel()
	// A session already ended (by its bye, a stop, a timeout) refuses; nothing to record then.
	if err := s.cfg.Lifecycle.Left(ctx, sessionClaims(info)); err != nil {
		log.Debug("console left: session not updated", "err", err)
	}
}
