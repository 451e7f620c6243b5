package agent

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Shared sessions: several consoles watch one machine, one of them at most in control. The
// agent is the single authority on who holds control; the relay only forwards the moves and
// audits what the agent reports. A machine's floor keeps its participants, its controller
// and at most one pending request, drives its hid.Arbiter (which lets the controller's input
// alone through, releasing held keys at every change), tells every participant the roster
// after every change, and reports control events and input bursts to the relay.
//
// Choices the contract leaves open:
//   - A second request while one is pending (and not yet timed out) is refused: the newcomer
//     alone gets the roster, which shows the pending request. It may ask again once that one
//     is answered or timed out.
//   - When control becomes free while a request is pending (the controller releases it,
//     leaves, or loses the right to it), the requester gets it at once, as a request made
//     while nobody controls would.
//   - A roster carries one event, the change's last; the relay gets every control event.

// Defaults of the handoff's timers.
const (
	defaultControlRequestTimeout = 30 * time.Second
	defaultInputBurstInterval    = time.Minute
)

// Reasons the agent gives when it moves control itself.
const (
	reasonLeft        = "left"
	reasonRoleLowered = "your role no longer allows control"
	// defaultParticipantName names a participant whose console gave no name.
	defaultParticipantName = "someone"
)

// errFloorFull refuses a console when the roster already holds wire.MaxParticipants.
var errFloorFull = fmt.Errorf("this machine's console already has %d participants; try again when one has left", wire.MaxParticipants)

// floorConfig is what a floor takes from its machine and agent.
type floorConfig struct {
	arb   *hid.Arbiter
	clock hid.Clock
	// send delivers a message to the relay (Agent.send).
	send           func(sid string, t wire.Type, data any)
	log            *slog.Logger
	requestTimeout time.Duration
	burstInterval  time.Duration
	// sendKeys delivers a batch of captured keys to the relay (keys.go); nil: keys are
	// never captured. onKeysDropped counts strokes it could not deliver.
	sendKeys      func(sid string, k wire.Keys) error
	onKeysDropped func(n int)
}

// participant is one console session on the machine.
type participant struct {
	sid    string
	name   string
	grant  wire.Grant
	joined time.Time
	order  uint64 // join order, for participants who joined in the same instant
}

// pendingRequest is a request for control waiting for the controller's answer.
type pendingRequest struct {
	from    string
	expires time.Time
	timer   hid.Timer
}

// floor is one machine's shared console. Its methods are safe for concurrent use: the
// relay's messages, session ends and timers call them.
type floor struct {
	cfg floorConfig

	// mu orders every change and the messages that report it: rosters reach the relay in the
	// order the changes happened (Agent.send only queues).
	mu         sync.Mutex
	closed     bool
	parts      map[string]*participant
	joins      uint64
	controller string
	request    *pendingRequest
	// burstTimer reports a long stretch of control in parts; burstGen tells a stale firing.
	burstTimer hid.Timer
	burstGen   uint64
	// keys batches the strokes of sessions with keystroke capture (nil without sendKeys).
	keys *keyReporter
}

func newFloor(cfg floorConfig) *floor {
	if cfg.clock == nil {
		cfg.clock = hid.SystemClock()
	}
	if cfg.requestTimeout <= 0 {
		cfg.requestTimeout = defaultControlRequestTimeout
	}
	if cfg.burstInterval <= 0 {
		cfg.burstInterval = defaultInputBurstInterval
	}
	f := &floor{cfg: cfg, parts: make(map[string]*participant)}
	if cfg.sendKeys != nil {
		f.keys = newKeyReporter(cfg.clock, cfg.sendKeys, f.flushKeys, cfg.onKeysDropped)
	}
	return f
}

// participantName is a console's name as the others see it: printable, bounded, never empty.
func participantName(name string) string {
	if n := safetext.Clean(name, wire.MaxParticipantName); n != "" {
		return n
	}
	return defaultParticipantName
}

// sessionGrant is what a session-start's grant allows: empty (an older relay, a demo token)
// is control, as before shared sessions; one this version does not know only watches.
func sessionGrant(g wire.Grant) (wire.Grant, bool) {
	switch {
	case g == "":
		return wire.GrantControl, true
	case g.Valid():
		return g, true
	}
	return wire.GrantView, false
}

// join adds a session to the roster. The first control-capable participant of a machine
// nobody controls gets control, so a lone operator types at once.
func (f *floor) join(sid, name string, g wire.Grant) error {
	grant, known := sessionGrant(g)
	if !known {
		f.cfg.log.Warn("session-start with a grant this agent does not know; the console only watches", "sid", sid, "grant", g)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("agent: the machine is closing")
	}
	if _, again := f.parts[sid]; !again && len(f.parts) >= wire.MaxParticipants {
		return errFloorFull
	}
	f.joins++
	f.parts[sid] = &participant{sid: sid, name: participantName(name), grant: grant, joined: f.cfg.clock.Now(), order: f.joins}
	if grant.MayControl() && f.controller == "" && f.request == nil {
		granted := wire.RosterEvent{Kind: wire.EventGranted, Subject: sid}
		f.moveLocked(sid)
		f.publishLocked(granted, granted)
		return nil
	}
	f.publishLocked(wire.RosterEvent{Kind: wire.EventJoined, Subject: sid})
	return nil
}

// leave takes a session off the roster, whatever ended it. A controller's held input is
// released and control freed; its request is dropped.
func (f *floor) leave(sid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parts[sid] == nil {
		return
	}
	delete(f.parts, sid)
	defer f.forgetKeysLocked(sid)
	shown := wire.RosterEvent{Kind: wire.EventLeft, Subject: sid}
	var audit []wire.RosterEvent
	if f.request != nil && f.request.from == sid {
		f.clearRequestLocked()
		audit = append(audit, wire.RosterEvent{Kind: wire.EventCancelled, By: sid, Subject: sid, Reason: reasonLeft})
	}
	if f.controller == sid {
		f.moveLocked("")
		shown = wire.RosterEvent{Kind: wire.EventReleased, Subject: sid, Reason: reasonLeft}
		audit = append(audit, shown)
		audit, shown = f.grantPendingLocked(audit, shown)
	}
	if f.closed {
		return
	}
	f.publishLocked(shown, audit...)
}

// regrant changes a live session's grant (its rights changed at the control plane). One
// that may no longer control gives control up at once, its held input released, and its
// request is dropped.
func (f *floor) regrant(sid string, g wire.Grant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[sid]
	if p == nil || !g.Valid() || p.grant == g {
		return
	}
	was := p.grant
	p.grant = g
	shown := wire.RosterEvent{Kind: wire.EventRegranted, Subject: sid, Reason: fmt.Sprintf("grant changed from %s to %s", was, g)}
	audit := []wire.RosterEvent{shown}
	if !g.MayControl() {
		if f.request != nil && f.request.from == sid {
			f.clearRequestLocked()
			audit = append(audit, wire.RosterEvent{Kind: wire.EventCancelled, Subject: sid, Reason: reasonRoleLowered})
		}
		if f.controller == sid {
			f.moveLocked("")
			shown = wire.RosterEvent{Kind: wire.EventReleased, Subject: sid, Reason: reasonRoleLowered}
			audit = append(audit, shown)
			audit, shown = f.grantPendingLocked(audit, shown)
		}
	}
	f.publishLocked(shown, audit...)
}

// controls reports whether sid holds control: power, screens and consent codes are the
// controller's.
func (f *floor) controls(sid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sid != "" && f.controller == sid
}

// close stops the floor's timers (the machine is forgotten; its sessions have ended).
func (f *floor) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.clearRequestLocked()
	f.stopBurstTimerLocked()
	if f.keys != nil {
		f.keys.close()
	}
}

// moveLocked hands control to sid ("" frees it) through the arbiter, which releases held
// input first, and reports the former controller's last burst.
func (f *floor) moveLocked(sid string) {
	prev := f.controller
	burst, err := f.cfg.arb.SetController(sid)
	if err != nil {
		f.cfg.log.Warn("release input for a control change", "from", prev, "to", sid, "err", err)
	}
	f.controller = sid
	f.stopBurstTimerLocked()
	if prev != "" {
		// The burst's keys go first: a recording's keys are checked against its digest.
		f.flushKeysLocked(burst)
		f.sendBurstLocked(burst, true)
	}
	if sid != "" && !f.closed {
		f.armBurstTimerLocked()
	}
}

// grantPendingLocked gives free control to the pending requester, if any, adding the event
// to audit and making it the one shown.
func (f *floor) grantPendingLocked(audit []wire.RosterEvent, shown wire.RosterEvent) ([]wire.RosterEvent, wire.RosterEvent) {
	if f.controller != "" || f.request == nil || f.closed {
		return audit, shown
	}
	to := f.request.from
	f.clearRequestLocked()
	f.moveLocked(to)
	granted := wire.RosterEvent{Kind: wire.EventGranted, Subject: to}
	return append(audit, granted), granted
}

func (f *floor) clearRequestLocked() {
	if f.request != nil {
		f.request.timer.Stop()
		f.request = nil
	}
}

// rosterLocked is the roster now: participants in join order.
func (f *floor) rosterLocked() wire.Roster {
	ps := make([]*participant, 0, len(f.parts))
	for _, p := range f.parts {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *participant) int {
		if c := a.joined.Compare(b.joined); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	r := wire.Roster{Participants: make([]wire.Participant, len(ps)), Controller: f.controller}
	for i, p := range ps {
		r.Participants[i] = wire.Participant{SID: p.sid, Name: p.name, Grant: p.grant}
	}
	if f.request != nil {
		r.Request = &wire.PendingRequest{From: f.request.from, ExpiresAt: f.request.expires.UnixMilli()}
	}
	return r
}

// publishLocked reports a change: the control events to the relay for its audit chain (each
// under its Subject's sid), then the roster, showing shown, to every participant.
func (f *floor) publishLocked(shown wire.RosterEvent, audit ...wire.RosterEvent) {
	for _, e := range audit {
		f.cfg.send(e.Subject, wire.TypeControlEvent, e)
	}
	r := f.rosterLocked()
	r.Event = &shown
	for _, p := range r.Participants {
		f.cfg.send(p.SID, wire.TypeRoster, r)
	}
}

// refuseLocked answers a move that is not allowed: nothing changes, and the acting session
// alone gets the roster as it is.
func (f *floor) refuseLocked(sid string, c wire.Control, why string) {
	f.cfg.log.Debug("control move refused", "sid", sid, "action", c.Action, "from", c.From, "to", c.To, "why", why)
	if f.parts[sid] != nil {
		f.cfg.send(sid, wire.TypeRoster, f.rosterLocked())
	}
}

// sendBurstLocked reports a stretch of control's input to the relay. A final one is sent
// when the stretch had input or lasted at all; a periodic one only with input.
func (f *floor) sendBurstLocked(b hid.Burst, final bool) {
	if b.SID == "" || (!b.HasInput() && (!final || !b.To.After(b.From))) {
		return
	}
	msg := wire.InputBurst{From: b.From.UnixMilli(), To: b.To.UnixMilli(), Keys: b.Keys, Pointer: b.Pointer, Digest: b.Digest, Final: final}
	if err := msg.Check(); err != nil {
		f.cfg.log.Warn("input burst out of bounds; not sent", "sid", b.SID, "err", err)
		return
	}
	f.cfg.send(b.SID, wire.TypeInputBurst, msg)
}

func (f *floor) armBurstTimerLocked() {
	f.burstGen++
	gen := f.burstGen
	f.burstTimer = f.cfg.clock.AfterFunc(f.cfg.burstInterval, func() { f.periodicBurst(gen) })
}

func (f *floor) stopBurstTimerLocked() {
	f.burstGen++
	if f.burstTimer != nil {
		f.burstTimer.Stop()
		f.burstTimer = nil
	}
}

// periodicBurst reports a long stretch of control's input so far, if it had any, and looks
// again an interval later.
func (f *floor) periodicBurst(gen uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || gen != f.burstGen || f.controller == "" {
		return
	}
	if b, ok := f.cfg.arb.Burst(); ok && b.HasInput() {
		b, _ = f.cfg.arb.TakeBurst()
		f.flushKeysLocked(b)
		f.sendBurstLocked(b, false)
	}
	f.armBurstTimerLocked()
}
