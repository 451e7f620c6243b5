package wire

import "fmt"

// TypeKeys is the agent's report of the keys a console session in control typed, agent →
// relay (sid: the controller's session), sent only for sessions whose session-start asked
// for them (SessionStart.CaptureKeys): the organization records its sessions with full
// keystroke capture. The relay puts them in the device's recording and nowhere else: never
// in the audit chain, never in a log.
const TypeKeys Type = "keys"

// Keys is one batch of a controller's key strokes, in the order they reached the machine:
// exactly the KEY events its input bursts digest (hid.DigestKeys checks a keys-only burst
// against them). The agent batches them (every 250 ms, or sooner at 64) and sends a burst's
// keys before the burst.
type Keys struct {
	Strokes []KeyStroke `json:"strokes"`
	// Dropped counts strokes of this session the agent could not report before this batch
	// (the relay did not keep up): the recording's keys have a hole there.
	Dropped int `json:"dropped,omitempty"`
}

// KeyStroke is one key going down or up: when (Unix ms, the agent's clock), and the USB HID
// keyboard usage (hid.Usage) as the machine received it.
type KeyStroke struct {
	T     int64  `json:"t"`
	Usage uint16 `json:"usage"`
	Down  bool   `json:"down,omitempty"`
}

// Bounds of a keys batch.
const (
	// MaxKeyStrokes bounds one batch; the agent sends at most 64.
	MaxKeyStrokes = 256
	// MaxKeysSpanMS bounds the time one batch covers.
	MaxKeysSpanMS = 60_000
)

// Check reports whether a batch is within bounds: 1 to MaxKeyStrokes strokes in time order,
// within MaxKeysSpanMS. Its errors never quote a key.
func (k Keys) Check() error {
	if len(k.Strokes) == 0 || len(k.Strokes) > MaxKeyStrokes || k.Dropped < 0 {
		return fmt.Errorf("%w: keys batch of %d strokes", ErrBadMessage, len(k.Strokes))
	}
	first := k.Strokes[0].T
	prev := first
	for _, s := range k.Strokes {
		if s.T <= 0 || s.T < prev || s.T-first > MaxKeysSpanMS {
			return fmt.Errorf("%w: keys batch out of time order or bounds", ErrBadMessage)
		}
		prev = s.T
	}
	return nil
}
