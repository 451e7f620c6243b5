package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// linksTimeout bounds one question to the gateway's management service.
const linksTimeout = 30 * time.Second

// maxLinkError bounds the reason a gateway reports for not reaching its service.
const maxLinkError = 256

// fleet tracks which machines a gateway reaches and tells the relay: the whole list on each
// new signaling connection, then only the changes (a gateway may reach thousands of machines,
// and a report is one bounded message).
type fleet struct {
	gw  device.Gateway
	log *slog.Logger

	mu     sync.Mutex
	up     map[string]bool // machines whose link is up, by target
	client messageSender
	state  device.Health
	notify chan struct{} // closed when state changes
}

func newFleet(gw device.Gateway, log *slog.Logger) *fleet {
	return &fleet{gw: gw, log: log, up: make(map[string]bool), notify: make(chan struct{}),
		state: device.Health{Source: gw.String(), State: device.StateConnecting, Since: time.Now()}}
}

// run asks the gateway which machines are up every interval until ctx ends.
func (f *fleet) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		f.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll asks once and reports what changed. A service that cannot be asked has no machine up.
func (f *fleet) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, linksTimeout)
	defer cancel()
	links, err := f.gw.Links(ctx)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return // shutting down
	}
	now := make(map[string]bool, len(links))
	for _, l := range links {
		if l.Up && wire.CheckTarget(l.Target) == nil {
			now[l.Target] = true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.setStateLocked(device.StateNoSignal, safetext.Clean(err.Error(), maxLinkError))
		f.log.Warn("gateway cannot list its machines", "err", err)
	} else {
		f.setStateLocked(device.StateLive, "")
	}
	var change wire.Machines
	for t := range now {
		if !f.up[t] {
			change.Up = append(change.Up, t)
		}
	}
	for t := range f.up {
		if !now[t] {
			change.Down = append(change.Down, t)
		}
	}
	f.up = now
	if len(change.Up)+len(change.Down) > 0 {
		f.log.Info("machines changed", "up", len(change.Up), "down", len(change.Down), "reachable", len(now))
		f.sendLocked(change)
	}
}

func (f *fleet) setStateLocked(state device.State, msg string) {
	if f.state.State == state && f.state.Error == msg {
		return
	}
	f.state = device.Health{Source: f.gw.String(), State: state, Error: msg, Since: time.Now()}
	close(f.notify)
	f.notify = make(chan struct{})
}

// messageSender is a signaling connection (*sigclient.Client).
type messageSender interface {
	Send(t wire.Type, sid string, data any) error
}

// connected gives a new signaling connection the whole list.
func (f *fleet) connected(c messageSender) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.client = c
	all := wire.Machines{Reset: true, Up: make([]string, 0, len(f.up))}
	for t := range f.up {
		all.Up = append(all.Up, t)
	}
	f.sendLocked(all)
}

// sendLocked sends m to the relay in reports of at most wire.MaxMachinesPerReport machines;
// only the first keeps Reset.
func (f *fleet) sendLocked(m wire.Machines) {
	if f.client == nil {
		return
	}
	slices.Sort(m.Up)
	slices.Sort(m.Down)
	first := true
	for first || len(m.Up)+len(m.Down) > 0 {
		part := wire.Machines{Reset: m.Reset && first}
		n := min(len(m.Up), wire.MaxMachinesPerReport)
		part.Up, m.Up = m.Up[:n], m.Up[n:]
		n = min(len(m.Down), wire.MaxMachinesPerReport-len(part.Up))
		part.Down, m.Down = m.Down[:n], m.Down[n:]
		if err := f.client.Send(wire.TypeMachines, "", part); err != nil {
			f.log.Debug("machines report not sent", "err", err)
			return // the next connection gets the whole list
		}
		first = false
	}
}

// health is the gateway's own state for its heartbeat: whether it reaches its service.
func (f *fleet) health() device.Health {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fleet) changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notify
}
