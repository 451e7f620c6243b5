package wire

import (
	"fmt"
	"regexp"

	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// Grant is what a console session's participant may do, derived by the relay from the
// control plane when it joins and again whenever a right changes: watch, or also hold
// control, or also take control from whoever holds it.
type Grant string

// Grants, weakest first.
const (
	// GrantView watches: its input is dropped at the agent (viewer role, share and guest links).
	GrantView Grant = "view"
	// GrantControl may hold control: it asks for it and is handed it (operator).
	GrantControl Grant = "control"
	// GrantAdmin may also take control without asking (admin and owner).
	GrantAdmin Grant = "admin"
)

// Valid reports whether g is a grant of this version.
func (g Grant) Valid() bool {
	switch g {
	case GrantView, GrantControl, GrantAdmin:
		return true
	}
	return false
}

// MayControl reports whether g may hold control.
func (g Grant) MayControl() bool { return g == GrantControl || g == GrantAdmin }

// GrantChange tells an agent (relay → agent) that a live session's grant changed: a role
// lowered to viewer gives up control at once, its held keys released.
type GrantChange struct {
	Grant Grant `json:"grant"`
}

// Check reports whether the grant is one this version knows.
func (g GrantChange) Check() error {
	if !g.Grant.Valid() {
		return fmt.Errorf("%w: grant %.32q", ErrBadMessage, g.Grant)
	}
	return nil
}

// Control is a participant's move in the handoff of control, console → relay → agent, always
// about the session that sends it (the envelope's sid):
//   - request: ask the controller for control (granted at once when nobody holds it);
//   - cancel: withdraw one's own request;
//   - approve / decline: the controller answers the pending request of session From;
//   - pass: the controller hands control to session To (a control-capable participant);
//   - release: the controller gives control up (nobody holds it);
//   - take: an admin takes control from whoever holds it (that controller is told).
type Control struct {
	Action string `json:"action"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// Control actions.
const (
	ControlRequest = "request"
	ControlCancel  = "cancel"
	ControlApprove = "approve"
	ControlDecline = "decline"
	ControlPass    = "pass"
	ControlRelease = "release"
	ControlTake    = "take"
)

// Check reports whether c is a well-formed move: a known action, From only on approve and
// decline, To only on pass, both plain session ids.
func (c Control) Check() error {
	switch c.Action {
	case ControlRequest, ControlCancel, ControlRelease, ControlTake:
		if c.From != "" || c.To != "" {
			return fmt.Errorf("%w: control %s names no session", ErrBadMessage, c.Action)
		}
	case ControlApprove, ControlDecline:
		if c.To != "" || checkSID(c.From) != nil {
			return fmt.Errorf("%w: control %s names the requesting session in from", ErrBadMessage, c.Action)
		}
	case ControlPass:
		if c.From != "" || checkSID(c.To) != nil {
			return fmt.Errorf("%w: control pass names the receiving session in to", ErrBadMessage)
		}
	default:
		return fmt.Errorf("%w: control action %.32q", ErrBadMessage, c.Action)
	}
	return nil
}

// checkSID accepts a non-empty session id.
func checkSID(sid string) error {
	if sid == "" || len(sid) > maxSIDLen || !printableID(sid) {
		return fmt.Errorf("%w: session id", ErrBadMessage)
	}
	return nil
}

// Roster is the agent's account of everyone on one machine's console, agent → relay →
// console, sent to every participant whenever it changes (a join, a leave, a control change,
// a request): who watches, who is in control, the pending request, and what just happened.
// Each participant's copy carries its own sid in the envelope.
type Roster struct {
	Participants []Participant `json:"participants"`
	// Controller is the session in control; empty when nobody holds it.
	Controller string `json:"controller,omitempty"`
	// Request is the pending request for control, if any.
	Request *PendingRequest `json:"request,omitempty"`
	// Event is what changed, for the consoles to say (absent on a plain refresh).
	Event *RosterEvent `json:"event,omitempty"`
}

// Participant is one console session on the machine.
type Participant struct {
	SID   string `json:"sid"`
	Name  string `json:"name"`
	Grant Grant  `json:"grant"`
}

// PendingRequest is a pending request for control: from whom, and until when (Unix ms) the
// controller may answer before it times out.
type PendingRequest struct {
	From      string `json:"from"`
	ExpiresAt int64  `json:"expires_at"`
}

// RosterEvent says what changed: Kind is one of the RosterEvent kinds, By the session that
// acted, Subject the session it concerns (the one that received, lost or asked for control,
// joined or left). Reason says why control moved when the agent decided it (a grant lowered).
type RosterEvent struct {
	Kind    string `json:"kind"`
	By      string `json:"by,omitempty"`
	Subject string `json:"subject,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Roster event kinds.
const (
	EventJoined    = "joined"    // Subject joined
	EventLeft      = "left"      // Subject left (its console disconnected or its session ended)
	EventRequested = "requested" // Subject asks for control
	EventCancelled = "cancelled" // Subject withdrew its request
	EventGranted   = "granted"   // Subject holds control (By approved or passed it; By empty: it was free)
	EventDeclined  = "declined"  // By declined Subject's request
	EventTimedOut  = "timed-out" // Subject's request was not answered in time
	EventReleased  = "released"  // Subject gave control up, or lost it (Reason)
	EventTaken     = "taken"     // By (an admin) took control from Subject
	EventRegranted = "regranted" // Subject's grant changed (Reason)
)

// Bounds of a roster.
const (
	MaxParticipants     = 64
	MaxParticipantName  = 128
	MaxRosterEventNotes = 256
)

var eventKinds = regexp.MustCompile(`^(joined|left|requested|cancelled|granted|declined|timed-out|released|taken|regranted)$`)

// Check reports whether a roster is within bounds: plain sids, known grants and kinds,
// printable names, a controller and requester among the participants.
func (r Roster) Check() error {
	if len(r.Participants) > MaxParticipants {
		return fmt.Errorf("%w: %d participants", ErrBadMessage, len(r.Participants))
	}
	seen := make(map[string]bool, len(r.Participants))
	for _, p := range r.Participants {
		if err := checkSID(p.SID); err != nil {
			return err
		}
		if !p.Grant.Valid() || len(p.Name) > MaxParticipantName {
			return fmt.Errorf("%w: participant out of bounds", ErrBadMessage)
		}
		if pr, bad := safetext.First(p.Name); bad {
			return fmt.Errorf("%w: participant name has %s", ErrBadMessage, pr)
		}
		seen[p.SID] = true
	}
	if r.Controller != "" && !seen[r.Controller] {
		return fmt.Errorf("%w: the controller is not a participant", ErrBadMessage)
	}
	if r.Request != nil && !seen[r.Request.From] {
		return fmt.Errorf("%w: the requester is not a participant", ErrBadMessage)
	}
	if e := r.Event; e != nil {
		if !eventKinds.MatchString(e.Kind) || len(e.Reason) > MaxRosterEventNotes {
			return fmt.Errorf("%w: roster event out of bounds", ErrBadMessage)
		}
		for _, sid := range []string{e.By, e.Subject} {
			if sid != "" && checkSID(sid) != nil {
				return fmt.Errorf("%w: roster event session id", ErrBadMessage)
			}
		}
		if pr, bad := safetext.First(e.Reason); bad {
			return fmt.Errorf("%w: roster event reason has %s", ErrBadMessage, pr)
		}
	}
	return nil
}

// InputBurst attributes the input of one stretch of control, agent → relay (sid: the session
// that held control), for the audit chain: from when to when (Unix ms), how many key and
// pointer events reached the machine, and the SHA-256 (hex) of those events as the agent's
// hid.Arbiter digests them. Never the keys themselves: passwords are typed at BIOS prompts.
// The agent sends one when control moves or its holder leaves (Final), and one every minute
// of a long stretch with input (its digest then restarts).
type InputBurst struct {
	From    int64  `json:"from"`
	To      int64  `json:"to"`
	Keys    int    `json:"keys"`
	Pointer int    `json:"pointer"`
	Digest  string `json:"digest"`
	Final   bool   `json:"final,omitempty"`
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Check reports whether a burst is within bounds.
func (b InputBurst) Check() error {
	if b.From <= 0 || b.To < b.From || b.Keys < 0 || b.Pointer < 0 || !hexDigest.MatchString(b.Digest) {
		return fmt.Errorf("%w: input burst out of bounds", ErrBadMessage)
	}
	return nil
}

// CheckControlEvent reports whether an agent's control-event (the RosterEvent of a control
// change, agent → relay, for the audit chain) is within bounds and about control.
func CheckControlEvent(e RosterEvent) error {
	switch e.Kind {
	case EventJoined, EventLeft:
		return fmt.Errorf("%w: joins and leaves are the relay's to audit", ErrBadMessage)
	}
	return Roster{Event: &e}.Check()
}
