package relay

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// deniedAuditor appends a signaling peer's attempts to reach a session or device it does not
// hold to its organization's audit chain (SECURITY.md item 4). A hostile peer could repeat
// them without end, so each principal gets a small budget; beyond it the attempts are only
// logged (and counted in the signaling metrics).
type deniedAuditor struct {
	store store.Store
	mu    sync.Mutex
	// budget per principal: a burst of 10, then one a minute. Bounded: reset when it grows past
	// maxPrincipals, which at worst lets a few more entries through.
	budget map[string]*rate.Limiter
	now    func() time.Time
}

const maxAuditedPrincipals = 10_000

func newDeniedAuditor(st store.Store) *deniedAuditor {
	return &deniedAuditor{store: st, budget: map[string]*rate.Limiter{}, now: time.Now}
}

func (d *deniedAuditor) allow(principal string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.budget[principal]
	if !ok {
		if len(d.budget) >= maxAuditedPrincipals {
			d.budget = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Every(time.Minute), 10)
		d.budget[principal] = l
	}
	return l.AllowN(d.now(), 1)
}

// record is signaling's OnForbidden. Tokens without a tenant (the single-operator demo) have
// no chain to write to.
func (d *deniedAuditor) record(ctx context.Context, tenant, principal string, msgType signaling.Type, targetSID string) {
	if tenant == "" || !d.allow(principal) {
		return
	}
	_, _ = d.store.AppendAudit(ctx, tenant, store.AuditRecord{Time: d.now(), Actor: principal, Action: store.AuditAccessDenied,
		Target: "session:" + targetSID, Details: map[string]string{"message": string(msgType)}})
}
