package signaling

import (
	"time"

	"golang.org/x/time/rate"
)

// An agent reports control moves and input bursts for the audit chain, and each report is a
// write on its organization's chain, serialized per organization. A hostile or broken agent
// must not be able to flood it: each session an agent carries may have reportRate reports per
// second audited, in bursts of reportBurst (a lively handoff is a few moves, an input burst
// comes with each move and once a minute); the rest are dropped, counted
// (kvmrelay_signaling_budget_refused_total{budget="agent-reports"}) and logged at most once a
// second. The agent's connection, and its consoles, stay.
const (
	reportRate  = 1
	reportBurst = 30
	// reportSessions bounds the sessions one connection keeps budgets for; past it, budgets
	// back at their full burst (nothing to remember) are forgotten.
	reportSessions = 1024
)

// reportBudget is one agent connection's audit report budgets, by session. It is used by the
// connection's reading goroutine only.
type reportBudget struct {
	now      func() time.Time
	bySID    map[string]*rate.Limiter
	lastWarn time.Time
}

func newReportBudget(now func() time.Time) *reportBudget {
	if now == nil {
		now = time.Now
	}
	return &reportBudget{now: now, bySID: make(map[string]*rate.Limiter)}
}

// allow spends one report of session sid; false when it is over budget.
func (b *reportBudget) allow(sid string) bool {
	now := b.now()
	l := b.bySID[sid]
	if l == nil {
		if len(b.bySID) >= reportSessions {
			b.forgetIdle(now)
		}
		l = rate.NewLimiter(reportRate, reportBurst)
		b.bySID[sid] = l
	}
	return l.AllowN(now, 1)
}

// forgetIdle drops the budgets that have refilled: a new one would be the same.
func (b *reportBudget) forgetIdle(now time.Time) {
	for sid, l := range b.bySID {
		if l.TokensAt(now) >= reportBurst {
			delete(b.bySID, sid)
		}
	}
}

// warn reports whether a drop should be logged now: at most once a second.
func (b *reportBudget) warn() bool {
	now := b.now()
	if now.Sub(b.lastWarn) < time.Second {
		return false
	}
	b.lastWarn = now
	return true
}
