// Package denied appends refused attempts (a signaling peer addressing a session or device it
// does not hold, a REST request answered 403 or with a cross-tenant or out-of-scope 404) to the
// actor's organization's audit chain, within a per-principal budget: a hostile client could
// repeat them without end, and the chain must not grow without bound. Beyond the budget the
// attempts are only logged. The relay makes one Auditor and hands it to signaling and the API,
// so both kinds of refusal draw on the same budget.
package denied

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Budget per principal: a burst of Burst entries, then one per Every.
const (
	Burst = 10
	Every = time.Minute
	// maxPrincipals bounds the budget table: past it the table starts afresh, which at worst
	// lets a few more entries through.
	maxPrincipals = 10_000
)

// Attempt is one refused request.
type Attempt struct {
	OrgID     string // the actor's organization: the chain the entry goes to
	Actor     string // "user:<id>", "apikey:<id>", …: the budget's key
	ActorName string // set for actors the store cannot name (OIDC); else filled in by the store
	Target    string
	Details   map[string]string
}

// Config configures an Auditor.
type Config struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
}

// Auditor records attempts within budget. Safe for concurrent use.
type Auditor struct {
	cfg    Config
	mu     sync.Mutex
	budget map[string]*rate.Limiter
}

// New makes an Auditor.
func New(cfg Config) *Auditor {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Auditor{cfg: cfg, budget: map[string]*rate.Limiter{}}
}

func (a *Auditor) allow(principal string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.budget[principal]
	if !ok {
		if len(a.budget) >= maxPrincipals {
			a.budget = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Every(Every), Burst)
		a.budget[principal] = l
	}
	return l.AllowN(a.cfg.Now(), 1)
}

// Record appends the attempt as an access_denied entry when the actor's budget allows, and
// reports whether it did. Attempts without an organization (tokens minted with the relay's
// own key for the single-operator demo) have no chain to go to.
func (a *Auditor) Record(ctx context.Context, at Attempt) bool {
	if at.OrgID == "" {
		return false
	}
	if !a.allow(at.Actor) {
		a.cfg.Logger.Debug("access denied (over the audit budget, not audited)", "org", at.OrgID, "actor", at.Actor, "target", at.Target)
		return false
	}
	_, err := a.cfg.Store.AppendAudit(ctx, at.OrgID, store.AuditRecord{Time: a.cfg.Now(), Actor: at.Actor, ActorName: at.ActorName,
		Action: store.AuditAccessDenied, Target: at.Target, Details: at.Details})
	if err != nil {
		a.cfg.Logger.Warn("access denied: audit append failed", "org", at.OrgID, "actor", at.Actor, "target", at.Target, "err", err)
		return false
	}
	return true
}
