package agent

import (
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// handleControl applies a console's move in the handoff of control to its machine's floor;
// sid is the acting session.
func (a *Agent) handleControl(sid string, c wire.Control) {
	s := a.session(sid)
	if s == nil {
		a.log.Debug("control move for no session", "sid", sid, "action", c.Action)
		return
	}
	s.machine.floor.control(sid, c)
}

// handleGrant applies a live session's new grant (its rights changed at the control plane).
func (a *Agent) handleGrant(sid string, g wire.GrantChange) {
	s := a.session(sid)
	if s == nil {
		a.log.Debug("grant change for no session", "sid", sid)
		return
	}
	s.machine.floor.regrant(sid, g.Grant)
}

// Refusals of what only the participant in control may do.
const (
	refusePower   = "only the participant in control can switch power; ask for control first"
	refuseConsent = "only the participant in control can answer the consent prompt; ask for control first"
)

// inControl reports whether sid's session holds control of its machine: switching power,
// choosing the screen and answering a consent prompt act on the machine as input does.
func (a *Agent) inControl(sid string) bool {
	s := a.session(sid)
	return s != nil && s.machine.floor.controls(sid)
}
