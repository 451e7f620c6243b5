package hid

import "sync/atomic"

// DropReason says why a message never reached the sink.
type DropReason uint8

// Drop reasons; String gives a metric label.
const (
	DropTooLarge      DropReason = iota // over MaxMessageSize
	DropTooShort                        // shorter than its type, or empty
	DropBadLength                       // longer than its type
	DropUnknownType                     // type byte not in the protocol
	DropOutOfRange                      // coordinates, usage, buttons or key state out of range
	DropInvalidUTF8                     // TEXT that is not UTF-8
	DropWrongChannel                    // e.g. POINTER_ABS on hid, KEY on pointer
	DropNotBinary                       // a text (string) data-channel message
	DropFlood                           // over the per-channel rate limit
	DropStale                           // POINTER_ABS older than the newest seen
	DropTextQueueFull                   // TEXT while the typing queue is full
	DropClosed                          // after Close
	DropNotController                   // input from a seat that does not hold control
	NumDropReasons
)

func (r DropReason) String() string {
	switch r {
	case DropTooLarge:
		return "too_large"
	case DropTooShort:
		return "too_short"
	case DropBadLength:
		return "bad_length"
	case DropUnknownType:
		return "unknown_type"
	case DropOutOfRange:
		return "out_of_range"
	case DropInvalidUTF8:
		return "invalid_utf8"
	case DropWrongChannel:
		return "wrong_channel"
	case DropNotBinary:
		return "not_binary"
	case DropFlood:
		return "flood"
	case DropStale:
		return "stale"
	case DropTextQueueFull:
		return "text_queue_full"
	case DropClosed:
		return "closed"
	case DropNotController:
		return "not_controller"
	}
	return "unknown"
}

// ChannelStats counts the messages of one data channel. Every message handed to the
// Dispatcher is counted exactly once: accepted or dropped for one reason.
type ChannelStats struct {
	Accepted atomic.Uint64
	Dropped  [NumDropReasons]atomic.Uint64
}

// Stats are a Dispatcher's counters, for metrics. Read them with Load; only the Dispatcher
// writes them.
type Stats struct {
	HID, Pointer ChannelStats
	// TextTyped and TextSkipped count characters of TEXT messages: typed, or skipped because
	// the layout has no key for them.
	TextTyped, TextSkipped atomic.Uint64
	// TextCanceled counts TEXT messages cut short or never started because of a release-all,
	// silence, a sink error or Close.
	TextCanceled atomic.Uint64
	// SilenceReleases counts the times the hid channel went quiet and input was released.
	SilenceReleases atomic.Uint64
	// SinkErrors counts failed sink calls; the messages behind them still count as accepted.
	SinkErrors atomic.Uint64
}

func (s *Stats) channel(ch Channel) *ChannelStats {
	if ch == ChannelPointer {
		return &s.Pointer
	}
	return &s.HID
}

// ChannelSnapshot is a copy of ChannelStats.
type ChannelSnapshot struct {
	Accepted uint64
	Dropped  [NumDropReasons]uint64
}

// DroppedTotal sums the drops over all reasons.
func (c ChannelSnapshot) DroppedTotal() uint64 {
	var n uint64
	for _, d := range c.Dropped {
		n += d
	}
	return n
}

// StatsSnapshot is a copy of Stats, comparable with ==.
type StatsSnapshot struct {
	HID, Pointer                         ChannelSnapshot
	TextTyped, TextSkipped, TextCanceled uint64
	SilenceReleases, SinkErrors          uint64
}

// Snapshot copies the counters. Each is read atomically, the set is not.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		HID:             s.HID.snapshot(),
		Pointer:         s.Pointer.snapshot(),
		TextTyped:       s.TextTyped.Load(),
		TextSkipped:     s.TextSkipped.Load(),
		TextCanceled:    s.TextCanceled.Load(),
		SilenceReleases: s.SilenceReleases.Load(),
		SinkErrors:      s.SinkErrors.Load(),
	}
}

func (c *ChannelStats) snapshot() ChannelSnapshot {
	snap := ChannelSnapshot{Accepted: c.Accepted.Load()}
	for i := range c.Dropped {
		snap.Dropped[i] = c.Dropped[i].Load()
	}
	return snap
}
