package recording

import "github.com/pion/rtp"

// reorderSize is how many packets the reorder buffer holds (a power of two): well over the
// packets of a 1080p keyframe, and of ReorderWait at a high bitrate.
const reorderSize = 1024

// maxSeqJump is the farthest a sequence number may be from the newest and still belong to the
// same numbering; further is a sender that restarted (the sfu's munger keeps numbering
// contiguous across upstream restarts, a direct sender may not).
const maxSeqJump = 3000

// ordered is a packet released in sequence order, with how many packets before it never
// came.
type ordered struct {
	p    *rtp.Packet
	lost int
}

// reorder puts packets back in sequence order. A missing packet is waited for while the
// packets after it span less than wait RTP ticks (a NACKed retransmission arrives about a
// round trip late) and fit the buffer; then it counts as lost. Not safe for concurrent use.
type reorder struct {
	wait    uint32
	started bool
	next    uint64 // extended number of the next packet to release
	highest uint64 // extended number of the newest packet held or released
	held    int
	skipped int // numbers given up on with nothing held, counted in the next release
	slots   [reorderSize]*rtp.Packet
	late    int // packets that came after their place was released (or duplicates)
}

func newReorder(wait uint32) *reorder { return &reorder{wait: wait} }

// push adds a packet and appends to out what is now in order.
func (r *reorder) push(p *rtp.Packet, out []ordered) []ordered {
	if !r.started {
		r.started = true
		r.next, r.highest = 1<<32|uint64(p.SequenceNumber), 1<<32|uint64(p.SequenceNumber)
	}
	d := int64(int16(p.SequenceNumber - uint16(r.highest)))
	if d > maxSeqJump || d < -maxSeqJump {
		// A new numbering: what is held is released as it stands, and the new one starts
		// as after a loss, so the frame it lands in is not taken as whole.
		out = r.flush(out)
		ext := (r.highest&^0xffff + 1<<16) | uint64(p.SequenceNumber)
		r.next, r.highest = ext, ext
		first := len(out)
		out = r.store(ext, p, out)
		out[first].lost = max(out[first].lost, 1)
		return out
	}
	ext := uint64(int64(r.highest) + d)
	if ext < r.next {
		r.late++
		return out
	}
	if ext > r.highest {
		r.highest = ext
	}
	return r.store(ext, p, out)
}

func (r *reorder) store(ext uint64, p *rtp.Packet, out []ordered) []ordered {
	for ext-r.next >= reorderSize {
		out = r.skip(out) // the buffer cannot reach that far: the oldest gap is lost
	}
	slot := &r.slots[ext%reorderSize]
	if *slot != nil {
		r.late++ // a duplicate
		return out
	}
	*slot = p
	r.held++
	out = r.release(out, 0)
	for r.held > 0 && r.overdue(p.Timestamp) {
		out = r.skip(out)
	}
	return out
}

// release appends the packets in order from next on, the first after lost missing ones.
func (r *reorder) release(out []ordered, lost int) []ordered {
	for {
		slot := &r.slots[r.next%reorderSize]
		if *slot == nil {
			return out
		}
		out = append(out, ordered{p: *slot, lost: lost + r.skipped})
		*slot, lost, r.skipped = nil, 0, 0
		r.held--
		r.next++
	}
}

// skip gives up on the missing packets before the oldest one held and releases from there.
func (r *reorder) skip(out []ordered) []ordered {
	if r.held == 0 {
		r.next++
		r.skipped++
		return out
	}
	lost := 0
	for r.slots[r.next%reorderSize] == nil {
		r.next++
		lost++
	}
	return r.release(out, lost)
}

// overdue reports whether the oldest packet held waited long enough for the gap before it:
// the newest packet's timestamp is wait past it.
func (r *reorder) overdue(newest uint32) bool {
	for ext := r.next; ext <= r.highest; ext++ {
		if p := r.slots[ext%reorderSize]; p != nil {
			return int32(newest-p.Timestamp) >= int32(r.wait)
		}
	}
	return false
}

// flush releases everything held, the gaps counted as lost (the stream ended).
func (r *reorder) flush(out []ordered) []ordered {
	for r.held > 0 {
		out = r.skip(out)
	}
	return out
}
