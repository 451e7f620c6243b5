package agent

import (
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// control applies a participant's move in the handoff of control (wire.Control, already
// checked); sid is the acting session. A move that is not allowed changes nothing and
// answers the acting session alone with the roster as it is (refuseLocked).
func (f *floor) control(sid string, c wire.Control) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[sid]
	if p == nil || f.closed {
		f.cfg.log.Debug("control move from a session not on the machine's roster", "sid", sid, "action", c.Action)
		return
	}
	switch c.Action {
	case wire.ControlRequest:
		f.requestLocked(p, c)
	case wire.ControlCancel:
		if f.request == nil || f.request.from != sid {
			f.refuseLocked(sid, c, "no request of this session is pending")
			return
		}
		f.clearRequestLocked()
		e := wire.RosterEvent{Kind: wire.EventCancelled, By: sid, Subject: sid}
		f.publishLocked(e, e)
	case wire.ControlApprove, wire.ControlDecline:
		f.answerLocked(sid, c)
	case wire.ControlPass:
		to := f.parts[c.To]
		switch {
		case f.controller != sid:
			f.refuseLocked(sid, c, "only the controller passes control")
		case to == nil || !to.grant.MayControl() || c.To == sid:
			f.refuseLocked(sid, c, "control passes to another participant who may hold it")
		default:
			if f.request != nil && f.request.from == c.To {
				f.clearRequestLocked() // asked, and now has it
			}
			f.moveLocked(c.To)
			e := wire.RosterEvent{Kind: wire.EventGranted, By: sid, Subject: c.To}
			f.publishLocked(e, e)
		}
	case wire.ControlRelease:
		if f.controller != sid {
			f.refuseLocked(sid, c, "only the controller releases control")
			return
		}
		f.moveLocked("")
		shown := wire.RosterEvent{Kind: wire.EventReleased, By: sid, Subject: sid}
		audit, shown := f.grantPendingLocked([]wire.RosterEvent{shown}, shown)
		f.publishLocked(shown, audit...)
	case wire.ControlTake:
		f.takeLocked(p, c)
	default:
		f.refuseLocked(sid, c, "unknown action")
	}
}

// requestLocked: a control-capable participant asks for control; granted at once when
// nobody holds it, pending otherwise (one request at a time) until the controller answers
// or the request times out.
func (f *floor) requestLocked(p *participant, c wire.Control) {
	switch {
	case !p.grant.MayControl():
		f.refuseLocked(p.sid, c, "the participant's grant only watches")
		return
	case f.controller == p.sid:
		f.refuseLocked(p.sid, c, "already in control")
		return
	case f.controller == "":
		f.clearRequestLocked()
		f.moveLocked(p.sid)
		e := wire.RosterEvent{Kind: wire.EventGranted, Subject: p.sid}
		f.publishLocked(e, e)
		return
	case f.request != nil:
		f.refuseLocked(p.sid, c, "a request is already pending")
		return
	}
	req := &pendingRequest{from: p.sid, expires: f.cfg.clock.Now().Add(f.cfg.requestTimeout)}
	req.timer = f.cfg.clock.AfterFunc(f.cfg.requestTimeout, func() { f.expire(req) })
	f.request = req
	e := wire.RosterEvent{Kind: wire.EventRequested, By: p.sid, Subject: p.sid}
	f.publishLocked(e, e)
}

// answerLocked: the controller approves (control moves to the requester) or declines the
// pending request of c.From.
func (f *floor) answerLocked(sid string, c wire.Control) {
	if f.controller != sid || f.request == nil || f.request.from != c.From {
		f.refuseLocked(sid, c, "only the controller answers, and only the pending request")
		return
	}
	f.clearRequestLocked()
	if c.Action == wire.ControlDecline {
		e := wire.RosterEvent{Kind: wire.EventDeclined, By: sid, Subject: c.From}
		f.publishLocked(e, e)
		return
	}
	f.moveLocked(c.From)
	e := wire.RosterEvent{Kind: wire.EventGranted, By: sid, Subject: c.From}
	f.publishLocked(e, e)
}

// takeLocked: an admin takes control from whoever holds it (that controller is told by the
// roster's event), or simply gets it when it is free.
func (f *floor) takeLocked(p *participant, c wire.Control) {
	if p.grant != wire.GrantAdmin || f.controller == p.sid {
		f.refuseLocked(p.sid, c, "only an admin not in control takes control")
		return
	}
	prev := f.controller
	if f.request != nil && f.request.from == p.sid {
		f.clearRequestLocked()
	}
	f.moveLocked(p.sid)
	e := wire.RosterEvent{Kind: wire.EventTaken, By: p.sid, Subject: prev}
	if prev == "" {
		e = wire.RosterEvent{Kind: wire.EventGranted, Subject: p.sid}
	}
	f.publishLocked(e, e)
}

// expire drops a request the controller did not answer in time.
func (f *floor) expire(req *pendingRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.request != req {
		return
	}
	f.request = nil
	e := wire.RosterEvent{Kind: wire.EventTimedOut, Subject: req.from}
	f.publishLocked(e, e)
}
