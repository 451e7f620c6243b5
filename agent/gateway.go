package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
)

// A gateway (Config.Gateway) serves many machines — Intel AMT machines behind one MPS — each a
// device of its own at the relay. A console's session-start names its machine (Target); the
// gateway makes the machine's source on first use and forgets it once no console watched it
// for GatewayIdle. The fleet (fleet.go) tells the relay which machines are reachable.

// maxGatewayMachines bounds the machines a gateway holds at once (each has a supervisor and,
// while watched, an encoder): more consoles than that on distinct machines are refused.
const maxGatewayMachines = 1024

// ErrNotServed is why a console's session names no machine this agent serves.
var ErrNotServed = errors.New("agent: not a machine this agent serves")

// machineFor returns the machine a console's session-start names: the agent's own, or a
// gateway's machine at target, made on first use.
func (a *Agent) machineFor(target string) (*machine, error) {
	if a.own != nil {
		if target != "" {
			return nil, fmt.Errorf("%w: this agent serves one machine (%s); to serve the machines of an MPS as a gateway, run kvmagent with --source amt+mps://USER@MPS (no GUID)", ErrNotServed, a.cfg.Source)
		}
		return a.own, nil
	}
	if target == "" {
		return nil, fmt.Errorf("%w: this agent is a gateway to the Intel AMT machines of %s and has no screen of its own; open one of the machines it serves", ErrNotServed, a.cfg.Gateway)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.machines[target]; m != nil {
		m.touch()
		return m, nil
	}
	if a.machineCtx == nil || a.machineCtx.Err() != nil {
		return nil, errors.New("agent: not running")
	}
	if len(a.machines) >= maxGatewayMachines {
		return nil, fmt.Errorf("this gateway already serves %d machines at once; try again when a console of another machine has closed", len(a.machines))
	}
	consent := device.NewConsent()
	src, err := a.cfg.Gateway.Source(target, consent)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotServed, err)
	}
	m, err := newMachine(machineConfig{target: target, source: src, viewOnly: a.cfg.ViewOnly, consent: consent,
		supervisor: a.cfg.Supervisor, codecs: a.cfg.Codecs, log: a.log.With("target", target), shared: a.sharedConfig()})
	if err != nil {
		return nil, err
	}
	m.run(a.machineCtx, a.reportConsent)
	a.machines[target] = m
	a.log.Info("serving machine", "target", target, "source", src.String())
	return m, nil
}

// forgetIdleMachines closes the gateway's machines no console watched for GatewayIdle, until
// ctx ends.
func (a *Agent) forgetIdleMachines(ctx context.Context) {
	t := time.NewTicker(max(a.cfg.GatewayIdle/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range a.takeIdleMachines(time.Now()) {
			a.log.Info("machine idle; forgotten", "target", m.target)
			m.close()
		}
	}
}

// takeIdleMachines removes and returns the machines idle for GatewayIdle with no session.
func (a *Agent) takeIdleMachines(now time.Time) []*machine {
	a.mu.Lock()
	defer a.mu.Unlock()
	var idle []*machine
	for target, m := range a.machines {
		since, unwatched := m.idleSince()
		if !unwatched || now.Sub(since) < a.cfg.GatewayIdle || a.hasSessionLocked(m) {
			continue
		}
		delete(a.machines, target)
		idle = append(idle, m)
	}
	return idle
}

func (a *Agent) hasSessionLocked(m *machine) bool {
	for _, s := range a.sessions {
		if s.machine == m {
			return true
		}
	}
	return false
}

// closeMachines stops every machine's source (the sessions have ended).
func (a *Agent) closeMachines() {
	a.mu.Lock()
	ms := slices.Collect(maps.Values(a.machines))
	clear(a.machines)
	a.mu.Unlock()
	if a.own != nil {
		ms = append(ms, a.own)
	}
	for _, m := range ms {
		m.close()
	}
}

// healthChanged is closed when what the heartbeat reports changes.
func (a *Agent) healthChanged() <-chan struct{} {
	if a.own != nil {
		return a.own.sup.Changed()
	}
	return a.fleet.changed()
}
