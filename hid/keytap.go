package hid

import "time"

// KeyStroke is one key event of a seat's input as its Arbiter digested it, for a recording
// with full keystroke capture: when, which key, down or up, and the burst it counts in.
type KeyStroke struct {
	At    time.Time
	Usage Usage
	Down  bool
	// Burst is the Seq of the burst the stroke counts in: a report of burst n goes with the
	// strokes whose Burst is at most n (later ones belong to the next).
	Burst uint64
}

// KeyTap receives a seat's key events: exactly the KEY events its bursts digest, in the
// same order (the package doc defines them), and nothing of another seat's input or of input
// dropped while the seat did not hold control. It is called with the Arbiter's lock held, on
// the goroutine that delivered the key: it must return at once (input waits for it) and
// must not call the Arbiter or its seats.
type KeyTap func(KeyStroke)

// TapKeys sets the function that receives the seat's key events from now on; nil stops
// them. Keys are reported only for the sessions whose organization captures them: most
// seats are never tapped.
func (s *Seat) TapKeys(tap KeyTap) {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.tap = tap
}

// recordLocked counts one accepted input event in the controller's burst and hands a key
// event to the seat's tap; called with a.mu held by the seat in control.
func (s *Seat) recordLocked(m Message) {
	a := s.a
	a.burst.record(m)
	if s.tap == nil {
		return
	}
	if k, ok := m.(KeyMsg); ok {
		s.tap(KeyStroke{At: a.clock.Now(), Usage: k.Usage, Down: k.Down, Burst: a.burst.seq})
	}
}

// DigestKeys computes a burst's digest from its key events alone, as a recording with full
// keystroke capture holds them: it equals the burst's Digest when the burst had no pointer
// events (Burst.Pointer and wire.InputBurst.Pointer zero). A burst with pointer events cannot
// be checked this way: the digest covers them too, and a recording keeps only their count.
// It refuses a usage Encode refuses.
func DigestKeys(keys []KeyMsg) (string, error) {
	events := make([]Message, len(keys))
	for i, k := range keys {
		events[i] = k
	}
	return DigestEvents(events)
}
