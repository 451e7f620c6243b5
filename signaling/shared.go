package signaling

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
	"github.com/kvmrelay/kvmrelay/signaling/internal/peerconn"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Shared sessions: several consoles, each its own session, watch one machine; the machine's
// agent decides who holds control and tells every participant (`roster`). Signaling routes the
// participants' moves (`control`) to the agent, refuses what a console's grant does not allow,
// and hands what the agent reports for the audit chain (`control-event`, `input-burst`) to the
// control plane — after checking that the agent carries every session it names, and within a
// budget, so that an agent cannot write into the audit chain what it likes.

// ControlAuditor is the control plane's record of shared sessions, for control-plane sessions
// (tokens naming a tenant). Signaling only calls it with sessions of info's agent.
type ControlAuditor interface {
	// ConsoleJoined: a console connection of info joined its machine, with info.Grant.
	ConsoleJoined(ctx context.Context, info SessionInfo) error
	// ConsoleLeft: that connection left, and why.
	ConsoleLeft(ctx context.Context, info SessionInfo, reason string) error
	// ControlMoved: the agent of subject's machine reports a move of control concerning it.
	// by is the acting session (e.By) as the registry knows it, or with only its SID when its
	// console is no longer connected; zero when the event names none. The principals to
	// record are the control plane's own for these sessions, never anything the agent sent.
	ControlMoved(ctx context.Context, subject, by SessionInfo, e wire.RosterEvent) error
	// InputSent: the agent attributes a burst of input to info, which held control.
	InputSent(ctx context.Context, info SessionInfo, b wire.InputBurst) error
}

// auditTimeout bounds one audit write made for a connection.
const auditTimeout = 5 * time.Second

// nameTimeout bounds looking up a console principal's name at connect time.
const nameTimeout = 2 * time.Second

// participantName is the name the other participants of the machine see for the console of
// claims: the control plane's name for its session's person (an email, an API key's name, a
// guest's "<name> (guest)") or, without
// one, the token's subject; cleaned to printable text of at most wire.MaxParticipantName bytes.
func (s *Server) participantName(log *slog.Logger, claims auth.Claims) string {
	name := claims.Subject
	if claims.Tenant != "" && s.cfg.Names != nil {
		ctx, cancel := context.WithTimeout(s.ctx, nameTimeout)
		defer cancel()
		if n, err := s.cfg.Names.ParticipantName(ctx, claims.Tenant, claims.Session, claims.Subject); err != nil {
			log.Warn("name a console's principal; showing it as its token names it", "err", err)
		} else {
			name = n
		}
	}
	if clean := safetext.Clean(name, wire.MaxParticipantName); clean != "" {
		return clean
	}
	return "unnamed"
}

// consoleJoined audits that a console connection joined its machine.
func (s *Server) consoleJoined(log *slog.Logger, info SessionInfo) {
	if info.Tenant == "" || s.cfg.Control == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, auditTimeout)
	defer cancel()
	if err := s.cfg.Control.ConsoleJoined(ctx, info); err != nil {
		log.Error("audit a console joining", "err", err)
	}
}

// consoleLeft audits that a console connection left its machine.
func (s *Server) consoleLeft(log *slog.Logger, info SessionInfo, reason string) {
	if info.Tenant == "" || s.cfg.Control == nil {
		return
	}
	// The connection's context has ended; the record must still be written.
	ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
	defer cancel()
	if err := s.cfg.Control.ConsoleLeft(ctx, info, reason); err != nil {
		log.Error("audit a console leaving", "reason", reason, "err", err)
	}
}

// maxLeaveReason bounds the reason a leave is audited with (it may quote a close frame).
const maxLeaveReason = 160

// leaveReason says why a console connection left, for the audit.
func leaveReason(st *consoleState, superseded bool, ended string) string {
	switch {
	case st.saidBye:
		return "closed by its person (Disconnect)"
	case superseded:
		return "replaced by a newer connection of the session"
	case ended != "":
		return safetext.Clean("session ended: "+ended, maxLeaveReason)
	case st.closed != "":
		return st.closed
	case st.readErr != "":
		// A close frame's text is the console's own words: cleaned, bounded.
		return safetext.Clean("console disconnected: "+st.readErr, maxLeaveReason)
	}
	return "console disconnected"
}

// Refusals of a console's grant.
const (
	msgWatching = "You are watching: your role does not allow control."
	msgTake     = "Only an admin may take control; ask for it instead."
)

// grantRefusal is why a console whose grant is g may not send a message of type t (with
// control action, for `control`), or "" when it may.
func grantRefusal(g wire.Grant, t wire.Type, action string) string {
	if g == wire.GrantView {
		switch t {
		case wire.TypeControl:
			return msgWatching
		case wire.TypePowerAction:
			return "You are watching: your role does not allow power actions. Ask someone in control of this console."
		case wire.TypeDisplay:
			return "You are watching: your role does not allow switching screens. Ask someone in control of this console."
		case wire.TypeConsentCode:
			return "You are watching: your role does not allow answering the machine's consent request. Ask someone in control of this console."
		}
		return ""
	}
	if t == wire.TypeControl && action == wire.ControlTake && g != wire.GrantAdmin {
		return msgTake
	}
	return ""
}

// forbid refuses a message the console's grant does not allow: counted, logged, handed to
// OnForbidden (the relay audits the attempt), answered with why; nothing reaches the agent and
// the connection stays.
func (s *Server) forbid(ctx context.Context, pc *peerconn.Conn, log *slog.Logger, info SessionInfo, grant wire.Grant, t wire.Type, msg string) bool {
	s.metrics.Messages.WithLabelValues("console", string(t), "forbidden").Inc()
	log.Warn("console message refused: its grant does not allow it", "type", t, "grant", grant)
	if s.cfg.OnForbidden != nil {
		s.cfg.OnForbidden(ctx, info.Tenant, info.Principal, t, info.SID)
	}
	pc.SendError(info.SID, wire.CodeForbidden, msg)
	return true
}

// controlEventReported audits an agent's control-event about info, the session it carries and
// the envelope names; the event is not forwarded (the consoles learn of it from the roster).
func (s *Server) controlEventReported(ctx context.Context, log *slog.Logger, claims auth.Claims, reports *reportBudget,
	info SessionInfo, env wire.Envelope, e wire.RosterEvent) bool {
	if err := wire.CheckControlEvent(e); err != nil {
		return s.dropReport(log, env, err)
	}
	switch e.Subject {
	case "":
		e.Subject = env.SID
	case env.SID:
	default:
		return s.dropReport(log, env, errors.New("the event's subject is not the session it was sent for"))
	}
	if !reports.allow(env.SID) {
		return s.reportThrottled(log, reports, env)
	}
	var by SessionInfo
	if e.By != "" {
		known, err := s.cfg.Registry.Session(ctx, e.By)
		switch {
		case errors.Is(err, ErrUnknownSession):
			// Its console left since; the control plane resolves it, on this device only.
			by = SessionInfo{SID: e.By}
		case err != nil:
			log.Error("resolve the acting session of a control event", "by", e.By, "err", err)
			return true
		case known.AgentDevice() != claims.Device || known.Device != info.Device || known.Tenant != info.Tenant:
			s.metrics.Messages.WithLabelValues("agent", string(env.Type), "forbidden").Inc()
			log.Warn("agent named a session of another machine in a control event", "sid", env.SID, "by", e.By)
			if s.cfg.OnForbidden != nil {
				s.cfg.OnForbidden(ctx, claims.Tenant, claims.Subject, env.Type, e.By)
			}
			return true
		default:
			by = known
		}
	}
	s.metrics.Messages.WithLabelValues("agent", string(env.Type), "ok").Inc()
	log.Info("control moved", "sid", env.SID, "kind", e.Kind, "by", e.By, "reason", e.Reason)
	if info.Tenant == "" || s.cfg.Control == nil {
		return true
	}
	actx, cancel := context.WithTimeout(ctx, auditTimeout)
	defer cancel()
	if err := s.cfg.Control.ControlMoved(actx, info, by, e); err != nil {
		log.Error("audit a control move", "sid", env.SID, "kind", e.Kind, "err", err)
	}
	return true
}

// inputBurstReported audits an agent's input-burst for info, the session that held control.
func (s *Server) inputBurstReported(ctx context.Context, log *slog.Logger, reports *reportBudget, info SessionInfo, env wire.Envelope, b wire.InputBurst) bool {
	if err := b.Check(); err != nil {
		return s.dropReport(log, env, err)
	}
	if !reports.allow(env.SID) {
		return s.reportThrottled(log, reports, env)
	}
	s.metrics.Messages.WithLabelValues("agent", string(env.Type), "ok").Inc()
	if info.Tenant == "" || s.cfg.Control == nil {
		return true
	}
	actx, cancel := context.WithTimeout(ctx, auditTimeout)
	defer cancel()
	if err := s.cfg.Control.InputSent(actx, info, b); err != nil {
		log.Error("audit an input burst", "sid", env.SID, "err", err)
	}
	return true
}

// reportThrottled drops a report over the agent's budget: counted, logged at most once a
// second; the agent's connection stays.
func (s *Server) reportThrottled(log *slog.Logger, reports *reportBudget, env wire.Envelope) bool {
	s.metrics.Messages.WithLabelValues("agent", string(env.Type), "throttled").Inc()
	s.metrics.BudgetRefused.WithLabelValues(budgetAgentReports).Inc()
	if reports.warn() {
		log.Warn("agent over its audit report budget; dropping its reports", "type", env.Type, "sid", env.SID)
	}
	return true
}
