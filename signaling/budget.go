package signaling

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kvmrelay/kvmrelay/signaling/internal/peerconn"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// A console speaks to a device's agent through the relay, and the agent's connection is shared
// by every console of the device: a console that sends faster than the agent reads would fill
// the agent's outbox, and the relay would then cut the agent — and every other console of the
// device with it (SECURITY.md item 18). Two defences:
//
//   - Budgets per console session (this node): messages per second with a burst, candidates
//     per negotiation, answers per negotiation, and joins (each one starts a new peer
//     connection on the agent) per second with a burst. A console over budget is told why
//     (error `rate-limited`) and its connection is closed; the agent never hears the excess.
//   - The agent's outbox is never allowed to overflow with console traffic: messages for the
//     agent are dropped (and counted) once its outbox is past a high-water mark,
//     so only the agent's own slowness — not a console's speed — can end its connection.
//
// HID input never passes signaling (it rides the WebRTC data channels, capped and checked by
// the agent), so signaling budgets do not cover it.

// ConsoleBudget bounds what one console session may send. Zero fields take the defaults.
type ConsoleBudget struct {
	// Rate and Burst bound messages per second from one session (defaults 50/s, burst 200:
	// a negotiation is a join, an answer and a few dozen candidates).
	Rate  float64
	Burst int
	// Candidates bounds candidates per negotiation, counted from the last join (default 200).
	Candidates int
	// Answers bounds answers per negotiation (default 10).
	Answers int
	// JoinRate and JoinBurst bound joins (default one per 2 s, burst 10: the console joins
	// again after each reconnect, with backoff).
	JoinRate  float64
	JoinBurst int
}

func (b ConsoleBudget) withDefaults() ConsoleBudget {
	if b.Rate <= 0 {
		b.Rate = 50
	}
	if b.Burst <= 0 {
		b.Burst = 200
	}
	if b.Candidates <= 0 {
		b.Candidates = 200
	}
	if b.Answers <= 0 {
		b.Answers = 10
	}
	if b.JoinRate <= 0 {
		b.JoinRate = 0.5
	}
	if b.JoinBurst <= 0 {
		b.JoinBurst = 10
	}
	return b
}

// Budget names, the `budget` label of kvmrelay_signaling_budget_refused_total.
const (
	budgetRate        = "rate"
	budgetCandidates  = "candidates"
	budgetAnswers     = "answers"
	budgetJoins       = "joins"
	budgetManagement  = "management"
	budgetControl     = "control"
	budgetAgentOutbox = "agent-outbox"
	// budgetAgentReports counts an agent's audit reports dropped (reportbudget.go).
	budgetAgentReports = "agent-reports"
)

// Out-of-band management messages (a consent code, a power action, a screen switch) each
// reach a machine's firmware: one every 2 s, burst 5, per console session.
const (
	managementRate  = 0.5
	managementBurst = 5
)

// Moves of control (request, approve, pass, …) are clicks of a person: three a second, burst
// 10, per console session. Each one may make the agent send every participant a roster.
const (
	controlRate  = 3
	controlBurst = 10
)

// CodeRateLimited is the error a console gets when it went over its budget; the connection is
// then closed. The console may reconnect (with backoff) and carry on within its budget.
const CodeRateLimited = "rate-limited"

// sessionBudget is one console session's spending. It is kept per session, not per
// connection, so that reconnecting does not refill it.
type sessionBudget struct {
	mu         sync.Mutex
	msgs       *rate.Limiter
	joins      *rate.Limiter
	management *rate.Limiter // consent codes, power actions, screen switches
	control    *rate.Limiter // moves of control
	candidates int           // since the last join
	answers    int           // since the last join
	conns      int           // live connections using it
	idleSince  time.Time
}

// spend accounts one message of type t at now; it returns the name of the budget it exceeds,
// or "" when the message may pass.
func (b *sessionBudget) spend(t wire.Type, limits ConsoleBudget, now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.msgs.AllowN(now, 1) {
		return budgetRate
	}
	switch t {
	case wire.TypeJoin:
		if !b.joins.AllowN(now, 1) {
			return budgetJoins
		}
		b.candidates, b.answers = 0, 0
	case wire.TypeConsentCode, wire.TypePowerAction, wire.TypeDisplay:
		if !b.management.AllowN(now, 1) {
			return budgetManagement
		}
	case wire.TypeControl:
		if !b.control.AllowN(now, 1) {
			return budgetControl
		}
	case wire.TypeCandidate, wire.TypeVideoCandidate:
		if b.candidates >= limits.Candidates {
			return budgetCandidates
		}
		b.candidates++
	case wire.TypeAnswer, wire.TypeVideoAnswer:
		if b.answers >= limits.Answers {
			return budgetAnswers
		}
		b.answers++
	}
	return ""
}

// budgetIdleTTL is how long a session's budget is kept after its last connection closed: a
// reconnect within it continues where the old connection left off.
const budgetIdleTTL = 10 * time.Minute

// budgets holds the sessions' budgets on this node.
type budgets struct {
	limits ConsoleBudget
	now    func() time.Time
	mu     sync.Mutex
	bySID  map[string]*sessionBudget
}

func newBudgets(limits ConsoleBudget, now func() time.Time) *budgets {
	if now == nil {
		now = time.Now
	}
	return &budgets{limits: limits.withDefaults(), now: now, bySID: make(map[string]*sessionBudget)}
}

// acquire returns sid's budget for a new connection; release hands it back. Budgets of
// sessions without a connection for budgetIdleTTL are forgotten here, so the map stays as
// large as the sessions recently seen.
func (bs *budgets) acquire(sid string) (*sessionBudget, func()) {
	now := bs.now()
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for k, b := range bs.bySID {
		if b.conns == 0 && now.Sub(b.idleSince) > budgetIdleTTL {
			delete(bs.bySID, k)
		}
	}
	b := bs.bySID[sid]
	if b == nil {
		b = &sessionBudget{
			msgs:       rate.NewLimiter(rate.Limit(bs.limits.Rate), bs.limits.Burst),
			joins:      rate.NewLimiter(rate.Limit(bs.limits.JoinRate), bs.limits.JoinBurst),
			management: rate.NewLimiter(managementRate, managementBurst),
			control:    rate.NewLimiter(controlRate, controlBurst),
		}
		bs.bySID[sid] = b
	}
	b.conns++
	return b, func() {
		bs.mu.Lock()
		defer bs.mu.Unlock()
		b.conns--
		b.idleSince = bs.now()
	}
}

// overBudget answers a console that exceeded a budget: counted, logged, told why, closed.
func (s *Server) overBudget(pc *peerconn.Conn, info SessionInfo, t wire.Type, budget string) bool {
	s.metrics.Messages.WithLabelValues("console", string(typeLabel(t)), "throttled").Inc()
	s.metrics.BudgetRefused.WithLabelValues(budget).Inc()
	s.log.Warn("console over its signaling budget; closing it", "sid", info.SID, "device", info.Device,
		"principal", info.Principal, "type", t, "budget", budget)
	// Returning false ends the connection; the writer sends the queued error before closing.
	pc.SendError(info.SID, CodeRateLimited, budgetMessage(budget))
	return false
}

func budgetMessage(budget string) string {
	switch budget {
	case budgetJoins:
		return "This console reconnected too often; it was disconnected and will retry more slowly."
	case budgetCandidates, budgetAnswers:
		return fmt.Sprintf("This console sent too many %s for one connection attempt; it was disconnected and will retry.", budget)
	case budgetControl:
		return "This console asked to move control faster than the relay accepts; it was disconnected and will retry."
	default:
		return "This console sent messages faster than the relay accepts; it was disconnected and will retry."
	}
}

// agentOutboxHigh is the agent outbox's high-water mark: past it, messages for the agent
// (all sent on behalf of consoles) are dropped. The rest of the outbox stays free, so console
// traffic alone can never fill it.
const agentOutboxHigh = peerconn.OutboxSize - peerconn.OutboxSize/4

// forwardToAgent copies the agent topic's messages to the agent like forward, but never lets
// them overflow its outbox: past the high-water mark a message is dropped and counted instead
// of the agent being cut. It does no more than a channel operation per message, so that it
// keeps up with any publisher and the bus never cuts the agent's subscription for being slow.
// A console whose messages are dropped notices by its negotiation timing out, and retries.
// Grants are never dropped; every other message on the topic, the consoles' included, is in
// the relay's own encoding (canonical), so nothing else starts like one.
func (s *Server) forwardToAgent(ctx context.Context, pc *peerconn.Conn, sub <-chan []byte) {
	var lastWarn time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-sub:
			if !ok {
				// The subscription was cut (bus failure): reconnect with a clean state.
				pc.Close(peerconn.ErrSubscriptionCut)
				return
			}
			select {
			case <-pc.Done():
				return
			default:
			}
			if bytes.HasPrefix(msg, grantPrefix) {
				// A grant must not be lost: a console lowered to view would keep control. The
				// quarter of the outbox above the mark is there for it.
				if !pc.Send(msg) {
					return
				}
				continue
			}
			if pc.SendBelow(msg, agentOutboxHigh) {
				continue
			}
			s.metrics.BudgetRefused.WithLabelValues(budgetAgentOutbox).Inc()
			if now := time.Now(); now.Sub(lastWarn) >= time.Second {
				lastWarn = now
				s.log.Warn("agent outbox nearly full; dropping console messages for it", "queued", pc.Queued())
			}
		}
	}
}
