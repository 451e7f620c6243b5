package agent

import (
	"context"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// powerTimeout bounds one power query or action through the machine's management path.
const powerTimeout = 30 * time.Second

// powerSettle is how long after an action the agent reads the power state again.
const powerSettle = 5 * time.Second

// powerActions are what a console may ask of a source that controls power.
var powerActions = []string{wire.PowerOn, wire.PowerOff, wire.PowerReset, wire.PowerCycle}

// tellPower sends a console the machine's power state and the actions it offers, when the
// source controls power.
func (a *Agent) tellPower(ctx context.Context, sid string, m *machine) {
	pc, ok := m.powerControl()
	if !ok {
		return
	}
	a.wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, powerTimeout)
		defer cancel()
		a.send(sid, wire.TypePower, a.powerReport(ctx, pc, "", nil))
	})
}

func (a *Agent) powerReport(ctx context.Context, pc device.PowerControl, action string, actionErr error) wire.Power {
	state, err := pc.PowerState(ctx)
	if err != nil {
		a.log.Warn("power state", "err", err)
		state = device.PowerUnknown
	}
	p := wire.Power{State: string(state), Actions: powerActions, Action: action}
	if actionErr != nil {
		// Text from the machine's management: printable, whole characters, within bounds.
		p.Error = safetext.Clean(actionErr.Error(), wire.MaxPowerError)
	}
	return p
}

// handlePowerAction runs a console's power action (the relay checked and audited it; only the
// participant in control may), then
// reports the outcome and the new state to every console, and has the supervisor try the
// source again at once: a machine just powered on should not wait out a reconnect backoff.
func (a *Agent) handlePowerAction(ctx context.Context, sid string, action wire.PowerAction) {
	s := a.session(sid)
	if s == nil {
		return
	}
	m := s.machine
	pc, ok := m.powerControl()
	if !ok {
		a.send(sid, wire.TypePower, wire.Power{ID: action.ID, State: string(device.PowerUnknown), Action: action.Action,
			Error: "this device's source cannot switch power"})
		return
	}
	if !m.floor.controls(sid) {
		a.send(sid, wire.TypePower, wire.Power{ID: action.ID, State: string(device.PowerUnknown), Action: action.Action, Error: refusePower})
		return
	}
	// One action at a time: a console flooding power cycles gets told, not obeyed.
	if !m.powerBusy.CompareAndSwap(false, true) {
		a.send(sid, wire.TypePower, wire.Power{ID: action.ID, State: string(device.PowerUnknown), Action: action.Action,
			Error: "another power action is under way; try again when it is done"})
		return
	}
	a.wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, powerTimeout)
		defer cancel()
		err := pc.Power(ctx, device.PowerAction(action.Action))
		m.powerBusy.Store(false) // the action is done; the look after it settles is not one
		if err != nil {
			a.log.Warn("power action failed", "action", action.Action, "err", err)
		} else {
			a.log.Info("power action done", "action", action.Action, "sid", sid)
			m.sup.RetryNow()
		}
		report := a.powerReport(ctx, pc, action.Action, err)
		for _, s := range a.sessionIDs(m) {
			if s == sid {
				continue
			}
			a.send(s, wire.TypePower, report)
		}
		// The console that asked gets the report with the action's id: the relay audits it.
		mine := report
		mine.ID = action.ID
		a.send(sid, wire.TypePower, mine)
		// A machine takes a moment to change state: look again, and tell the consoles if it
		// changed meanwhile.
		if err == nil {
			t := time.NewTimer(powerSettle)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if again := a.powerReport(ctx, pc, "", nil); again.State != report.State {
				for _, s := range a.sessionIDs(m) {
					a.send(s, wire.TypePower, again)
				}
			}
		}
	})
}
