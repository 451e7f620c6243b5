package relay

import (
	"context"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// adopter creates the device rows of machines gateways report under the MPS tags they were
// given (device.Service.Adopt), off the gateways' signaling goroutines: a gateway's first
// report may list thousands of machines, and its consoles' signaling must not wait on it.
type adopter struct {
	svc   *device.Service
	store store.Store
	links *device.GatewayLinks // what each gateway connection on this node reports up
	log   *slog.Logger
	jobs  chan adoptJob

	cancel context.CancelFunc
	done   chan struct{}
}

type adoptJob struct {
	tenant, gateway string
	found           []device.Discovered
}

// adoptQueue bounds the reports waiting; one beyond it is dropped (logged): the gateway sends
// its whole list again on its next connection.
const adoptQueue = 64

// adoptTimeout bounds one report's adoption.
const adoptTimeout = time.Minute

func startAdopter(svc *device.Service, st store.Store, links *device.GatewayLinks, log *slog.Logger) *adopter {
	ctx, cancel := context.WithCancel(context.Background())
	a := &adopter{svc: svc, store: st, links: links, log: log, jobs: make(chan adoptJob, adoptQueue), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for {
			select {
			case <-ctx.Done():
				return
			case job := <-a.jobs:
				a.adopt(ctx, job)
			}
		}
	}()
	return a
}

func (a *adopter) adopt(ctx context.Context, job adoptJob) {
	ctx, cancel := context.WithTimeout(ctx, adoptTimeout)
	defer cancel()
	n, err := a.svc.Adopt(ctx, job.tenant, job.gateway, job.found)
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("adopting a gateway's machines failed; its next connection reports them again", "gateway", job.gateway, "err", err)
	case n > 0:
		a.log.Info("gateway machines adopted by MPS tag", "gateway", job.gateway, "created", n)
		a.markUp(ctx, job)
	}
}

// markUp records the links of the machines just adopted: their report was written before
// their rows existed. What the gateway reports up now decides, so a machine that went down
// meanwhile stays down.
func (a *adopter) markUp(ctx context.Context, job adoptJob) {
	upNow := map[string]bool{}
	for _, t := range a.links.Up(job.gateway) {
		upNow[t] = true
	}
	var up []string
	for _, f := range job.found {
		if upNow[f.Target] {
			up = append(up, f.Target)
		}
	}
	err := a.store.Write(ctx, job.tenant, func(tx store.Tx) error {
		_, err := tx.SetTargetLinks(ctx, job.gateway, up, nil, time.Now())
		return err
	})
	if err != nil && ctx.Err() == nil {
		a.log.Warn("record adopted machines' links; the gateway's next connection reports them again", "gateway", job.gateway, "err", err)
	}
}

// offer queues a report's machines that carry tags (only those can match a gateway's).
func (a *adopter) offer(tenant, gateway string, found []device.Discovered) {
	tagged := found[:0:0]
	for _, f := range found {
		if len(f.Tags) > 0 {
			tagged = append(tagged, f)
		}
	}
	if len(tagged) == 0 {
		return
	}
	select {
	case a.jobs <- adoptJob{tenant: tenant, gateway: gateway, found: tagged}:
	default:
		a.log.Warn("too many gateway reports waiting; this one is not adopted now", "gateway", gateway, "machines", len(tagged))
	}
}

func (a *adopter) stop() {
	a.cancel()
	<-a.done
}
