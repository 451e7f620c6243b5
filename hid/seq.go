package hid

import "sync"

// seqResync is how many stale moves in a row make SeqFilter start over from the next one. The
// pointer channel only reorders within a few messages, so a long run of "old" numbers means the
// console restarted its counter, and refusing them would freeze the pointer for up to 32768
// moves.
const seqResync = 64

// SeqNewer reports whether sequence number a is newer than b in RFC 1982 serial-number
// arithmetic on 16 bits. Numbers exactly half the space apart are undefined by the RFC; they
// count as not newer, so the filter errs towards dropping a move.
func SeqNewer(a, b uint16) bool {
	d := a - b
	return d != 0 && d < 1<<15
}

// SeqFilter drops POINTER_ABS moves older than the newest one seen. The zero value is ready;
// it is safe for concurrent use.
type SeqFilter struct {
	mu     sync.Mutex
	newest uint16
	seen   bool
	stale  int
}

// Accept reports whether a move numbered seq should be applied, and if so records it as the
// newest.
func (f *SeqFilter) Accept(seq uint16) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen && !SeqNewer(seq, f.newest) {
		f.stale++
		if f.stale < seqResync {
			return false
		}
	}
	f.seen, f.newest, f.stale = true, seq, 0
	return true
}
