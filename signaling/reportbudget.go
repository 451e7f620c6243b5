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

// Batches of captured keys (keys.go) are no audit writes: they go to a recording, a few a
// second while someone types (a pasted text more), on a budget of their own per session.
const (
	keysRate  = 16
	keysBurst = 64
)

// reportBudget is one agent connection's audit report budgets, by session. It is used by the
// connection's reading goroutine only.
type reportBudget struct {
	now      func() time.Time
	bySID    map[string]*rate.Limiter
	keys     map[string]*rate.Limiter
	lastWarn time.Time
}

func newReportBudget(now func() time.Time) *reportBudget {
	if now == nil {
		now = time.Now
	}
	return &reportBudget{now: now, bySID: make(map[string]*rate.Limiter), keys: make(map[string]*rate.Limiter)}
}

// allow spends one report of session sid; false when it is over budget.
func (b *reportBudget) allow(sid string) bool {
	return spend(b.bySID, sid, b.now(), reportRate, reportBurst)
}

// allowKeys spends one keys batch of session sid; false when it is over budget.
func (b *reportBudget) allowKeys(sid string) bool {
	return spend(b.keys, sid, b.now(), keysRate, keysBurst)
}

// spend takes one token from sid's limiter in m, made with r and burst when it has none.
func spend(m map[string]*rate.Limiter, sid string, now time.Time, r rate.Limit, burst int) bool {
	l := m[sid]
	if l == nil {
		if len(m) >= reportSessions {
			forgetIdle(m, now, burst)
		}
		l = rate.NewLimiter(r, burst)
		m[sid] = l
	}
	return l.AllowN(now, 1)
}

// forgetIdle drops the budgets that have refilled: a new one would be the same.
func forgetIdle(m map[string]*rate.Limiter, now time.Time, burst int) {
	for sid, l := range m {
		if l.TokensAt(now) >= float64(burst) {
			delete(m, sid)
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
