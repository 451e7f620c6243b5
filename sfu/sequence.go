package sfu

import "time"

// maxSeqJump is how far a sequence number may be from the highest one seen, either way, and
// still belong to the same numbering. Further than this is not loss or reordering (pion's
// NACK buffers hold 1024 packets) but a sender that restarted its numbering.
const maxSeqJump = 3000

// seqUnwrapper extends the upstream's 16-bit sequence numbers to 64 bits, so that order and
// distance survive wraparound.
type seqUnwrapper struct {
	started bool
	highest uint64
}

// unwrap returns seq's extended number. newer reports a packet past every one before;
// restart reports the first packet of a new numbering (the first packet ever, or one too far
// from the last to be related): the extended numbers still increase across it.
func (u *seqUnwrapper) unwrap(seq uint16) (ext uint64, newer, restart bool) {
	if !u.started {
		// Start high enough that late packets from before the first one stay positive.
		u.started, u.highest = true, 1<<32|uint64(seq)
		return u.highest, true, true
	}
	d := int64(int16(seq - uint16(u.highest)))
	if d > maxSeqJump || d < -maxSeqJump {
		u.highest = (u.highest&^0xffff + 1<<16) | uint64(seq)
		return u.highest, true, true
	}
	ext = uint64(int64(u.highest) + d)
	if d > 0 {
		u.highest = ext
	}
	return ext, d > 0, false
}

// reset makes the next packet start a new numbering (the upstream changed its SSRC).
func (u *seqUnwrapper) reset() { u.started = false }

// seqRun is a stretch of upstream numbers [first, last] a viewer forwarded without dropping
// any, so all of them share one offset: a late packet inside it (a retransmission the
// relay's NACK generator recovered) is sent under out = ext - dropped.
type seqRun struct{ first, last, dropped uint64 }

// maxRuns is how many forwarded stretches a munger remembers for late packets. In
// keyframes-only mode a run is one keyframe, a few seconds apart: more would only hold
// packets too old to be of use.
const maxRuns = 8

// munger renumbers one viewer's packets: every packet it sends gets the number after the one
// before, less the upstream's own gaps (which the viewer may NACK and a late retransmission
// may fill), so dropped frames leave no hole for its receiver to NACK. It also shifts RTP
// timestamps when the upstream restarts, so the viewer's clock keeps running. Not safe for
// concurrent use.
type munger struct {
	highest uint64 // extended upstream number of the newest packet handled
	lastOut uint64 // extended outgoing number of the newest packet sent
	dropped uint64 // upstream numbers given no outgoing number (mod 2^64): out = ext - dropped
	open    bool   // the newest packet handled was sent: the newest run goes on

	runs  [maxRuns]seqRun
	nruns int // runs in use; the newest is runs[(head+nruns-1)%maxRuns]
	head  int

	tsOffset uint32
	lastTS   uint32 // outgoing timestamp of the newest packet sent
	lastWall time.Time
	sentAny  bool
}

// newMunger returns a munger whose first packet will be numbered start.
func newMunger(start uint16) *munger {
	return &munger{lastOut: uint64(start) - 1}
}

// rebase starts over at upstream number ext (a new numbering, or the first packet this
// viewer sees): the next packet sent continues the viewer's numbering, and the next
// timestamps continue its clock by the wall time that passed (clockRate ticks a second).
func (m *munger) rebase(ext uint64, ts uint32, now time.Time, clockRate uint32) {
	m.highest = ext - 1
	m.dropped = m.highest - m.lastOut
	m.open = false
	m.nruns, m.head = 0, 0
	if m.sentAny {
		ticks := max(uint32(now.Sub(m.lastWall).Seconds()*float64(clockRate)), 1)
		m.tsOffset = m.lastTS + ticks - ts
	}
}

// peek returns the number and timestamp send would give a packet newer than every packet
// handled so far, without recording anything: whether it is sent depends on the write.
func (m *munger) peek(ext uint64, ts uint32) (seq uint16, timestamp uint32) {
	return uint16(ext - m.dropped), ts + m.tsOffset
}

// send numbers a packet newer than every packet handled so far and records it as sent.
func (m *munger) send(ext uint64, ts uint32, now time.Time) (seq uint16, timestamp uint32) {
	out := ext - m.dropped
	if m.open && m.nruns > 0 {
		m.runs[(m.head+m.nruns-1)%maxRuns].last = ext
	} else {
		if m.nruns == maxRuns {
			m.head = (m.head + 1) % maxRuns
			m.nruns--
		}
		m.runs[(m.head+m.nruns)%maxRuns] = seqRun{first: ext, last: ext, dropped: m.dropped}
		m.nruns++
	}
	m.highest, m.lastOut, m.open = ext, out, true
	m.lastTS, m.lastWall, m.sentAny = ts+m.tsOffset, now, true
	return uint16(out), m.lastTS
}

// drop records a packet newer than every packet handled so far as not sent. The upstream's
// gap before it goes too: a late packet from there could not be numbered without a clash.
func (m *munger) drop(ext uint64) {
	m.dropped += ext - m.highest
	m.highest, m.open = ext, false
}

// late numbers a packet older than the newest handled; ok is false unless it falls in a
// stretch this viewer forwarded.
func (m *munger) late(ext uint64, ts uint32) (seq uint16, timestamp uint32, ok bool) {
	for i := m.nruns - 1; i >= 0; i-- {
		r := m.runs[(m.head+i)%maxRuns]
		if ext >= r.first && ext <= r.last {
			return uint16(ext - r.dropped), ts + m.tsOffset, true
		}
		if ext > r.last {
			break
		}
	}
	return 0, 0, false
}
