package relay

import (
	"context"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/control/device"
)

// adopter creates the device rows of machines gateways report under the MPS tags they were
// given (device.Service.Adopt), off the gateways' signaling goroutines: a gateway's first
// report may list thousands of machines, and its consoles' signaling must not wait on it.
type adopter struct {
	svc     *device.Service
	reports *device.Reports // records the adopted machines' links
	log     *slog.Logger
	jobs    chan adoptJob

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

func startAdopter(svc *device.Service, reports *device.Reports, log *slog.Logger) *adopter {
	ctx, cancel := context.WithCancel(context.Background())
	a := &adopter{svc: svc, reports: reports, log: log, jobs: make(chan adoptJob, adoptQueue), cancel: cancel, done: make(chan struct{})}
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
		if err := a.reports.MarkAdopted(ctx, job.tenant, job.gateway, job.found); err != nil && ctx.Err() == nil {
			a.log.Warn("record adopted machines' links; the gateway's next connection reports them again", "gateway", job.gateway, "err", err)
		}
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
