package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
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
	up     map[string]wire.Machine // machines whose link is up, by target
	client messageSender
	state  device.Health
	notify chan struct{} // closed when state changes
}

func newFleet(gw device.Gateway, log *slog.Logger) *fleet {
	return &fleet{gw: gw, log: log, up: make(map[string]wire.Machine), notify: make(chan struct{}),
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
	now := make(map[string]wire.Machine, len(links))
	for _, l := range links {
		if l.Up && wire.CheckTarget(l.Target) == nil {
			now[l.Target] = wire.Machine{Target: l.Target, Name: l.Name, Tags: l.Tags}.Clean()
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
	for t, m := range now {
		// New, or renamed or retagged on the service: the relay may adopt it now.
		if was, ok := f.up[t]; !ok || was.Name != m.Name || !slices.Equal(was.Tags, m.Tags) {
			change.Up = append(change.Up, m)
		}
	}
	for t := range f.up {
		if _, ok := now[t]; !ok {
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
	all := wire.Machines{Reset: true, Up: make([]wire.Machine, 0, len(f.up))}
	for _, m := range f.up {
		all.Up = append(all.Up, m)
	}
	f.sendLocked(all)
}

// sendLocked sends m to the relay in reports of at most wire.MaxMachinesPerReport machines
// and about wire.MaxMachinesReportBytes each; only the first keeps Reset, and the parts of a
// full list but the last say More.
func (f *fleet) sendLocked(m wire.Machines) {
	if f.client == nil {
		return
	}
	slices.SortFunc(m.Up, func(a, b wire.Machine) int { return strings.Compare(a.Target, b.Target) })
	slices.Sort(m.Down)
	first := true
	for first || len(m.Up)+len(m.Down) > 0 {
		part := wire.Machines{Reset: m.Reset && first}
		size := 0
		full := func() bool {
			return len(part.Up)+len(part.Down) >= wire.MaxMachinesPerReport || size >= wire.MaxMachinesReportBytes
		}
		for len(m.Up) > 0 && !full() {
			size += machineSize(m.Up[0])
			part.Up, m.Up = append(part.Up, m.Up[0]), m.Up[1:]
		}
		for len(m.Down) > 0 && !full() {
			size += len(m.Down[0]) + 3
			part.Down, m.Down = append(part.Down, m.Down[0]), m.Down[1:]
		}
		part.More = m.Reset && len(m.Up)+len(m.Down) > 0
		if err := f.client.Send(wire.TypeMachines, "", part); err != nil {
			f.log.Debug("machines report not sent", "err", err)
			return // the next connection gets the whole list
		}
		first = false
	}
}

// machineSize bounds m's JSON encoding: its text, escaped at worst 6 bytes per byte of a name
// or tag (\u00XX), and the punctuation.
func machineSize(m wire.Machine) int {
	n := len(m.Target) + 6*len(m.Name) + 40
	for _, t := range m.Tags {
		n += 6*len(t) + 3
	}
	return n
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
