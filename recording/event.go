package recording

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Kinds of timeline events the relay adds (AddEvent).
const (
	// KindJoined: a participant (SID, Name, Grant) started watching.
	KindJoined = "participant-joined"
	// KindLeft: a participant (SID, Name) left.
	KindLeft = "participant-left"
	// KindControl: control moved or was asked for (Control: the agent's control-event).
	KindControl = "control"
	// KindInputBurst: input reached the machine (Burst: counts and digest, never keys).
	KindInputBurst = "input-burst"
	// KindKeys: the keys themselves (Keys), only when the organization captures them.
	KindKeys = "keys"
)

// Kinds the recorder writes itself.
const (
	// KindStart is the first line: the wall time (At) of t_ms 0, the id, whether keys are
	// captured.
	KindStart = "start"
	// KindVideo: the picture format (Width, Height) from media time PTSMS on; written at
	// the first frame and at every change.
	KindVideo = "video"
	// KindGap: packets were lost (LostPackets so far); the picture freezes at media time
	// PTSMS until the next keyframe.
	KindGap = "video-gap"
	// KindEnd is the last line: frames, media duration and the video file's SHA-256.
	KindEnd = "end"
)

// Bounds of an event.
const (
	maxKeysPerEvent = 256
	maxSIDLen       = 64
)

// Event is one thing that happened in a recorded session, for its timeline. Only the
// fields of its Kind are set.
type Event struct {
	Kind    string            `json:"kind"`
	SID     string            `json:"sid,omitempty"`
	Name    string            `json:"name,omitempty"`
	Grant   wire.Grant        `json:"grant,omitempty"`
	Control *wire.RosterEvent `json:"control,omitempty"`
	Burst   *wire.InputBurst  `json:"burst,omitempty"`
	Keys    []KeyStroke       `json:"keys,omitempty"`
}

// KeyStroke is one key going down or up, for recordings with full keystroke capture.
type KeyStroke struct {
	// TMS is when, on the timeline (0: the event's time).
	TMS int64 `json:"t_ms,omitempty"`
	// Usage is the USB HID keyboard usage (hid.Usage).
	Usage uint16 `json:"usage"`
	Down  bool   `json:"down"`
}

// check reports whether e is a well-formed event of a kind the relay adds, carrying only
// its kind's fields. Keystrokes anywhere but in a keys event are refused: a caller's mistake
// must not put them in a recording that does not capture them.
func (e Event) check(captureKeys bool) error {
	participant := e.SID != "" || e.Name != "" || e.Grant != ""
	switch e.Kind {
	case KindJoined, KindLeft:
		switch {
		case e.SID == "" || len(e.SID) > maxSIDLen:
			return fmt.Errorf("recording: %s event needs a session id", e.Kind)
		case len(e.Name) > wire.MaxParticipantName:
			return fmt.Errorf("recording: participant name of %d bytes", len(e.Name))
		case e.Grant != "" && !e.Grant.Valid():
			return fmt.Errorf("recording: grant %.32q", e.Grant)
		case e.Control != nil || e.Burst != nil || e.Keys != nil:
			return fmt.Errorf("recording: %s event carries another kind's fields", e.Kind)
		}
	case KindControl:
		if e.Control == nil || e.Burst != nil || e.Keys != nil || participant {
			return fmt.Errorf("recording: control event carries exactly a control change")
		}
		if err := wire.CheckControlEvent(*e.Control); err != nil {
			return fmt.Errorf("recording: control event: %w", err)
		}
	case KindInputBurst:
		if e.Burst == nil || e.Control != nil || e.Keys != nil || len(e.Name) > 0 || e.Grant != "" {
			return fmt.Errorf("recording: input-burst event carries exactly a burst (and its session)")
		}
		if err := e.Burst.Check(); err != nil {
			return fmt.Errorf("recording: input-burst event: %w", err)
		}
	case KindKeys:
		switch {
		case !captureKeys:
			return ErrKeysNotCaptured
		case len(e.Keys) == 0 || len(e.Keys) > maxKeysPerEvent:
			return fmt.Errorf("recording: keys event of %d strokes", len(e.Keys))
		case e.Control != nil || e.Burst != nil || len(e.Name) > 0 || e.Grant != "":
			return fmt.Errorf("recording: keys event carries exactly keys (and its session)")
		}
	default:
		return fmt.Errorf("recording: event kind %.32q", e.Kind)
	}
	if len(e.SID) > maxSIDLen {
		return fmt.Errorf("recording: session id of %d bytes", len(e.SID))
	}
	return nil
}
