package recording

// frame is one access unit's packets, in order: whole when none of them was lost and the
// last has the marker bit (the sender sets it on every frame's last packet, RFC 6184 §5.1).
type frame struct {
	ts       uint32
	payloads [][]byte
	whole    bool
}

// assembler cuts the ordered packets into frames: a frame ends at its marker, or when a
// packet with another timestamp shows its end was lost. Not safe for concurrent use.
type assembler struct {
	cur    frame
	open   bool // cur has packets
	broken bool // cur lost a packet
}

// push adds one ordered packet and calls emit with each frame it ends, whole or not.
func (a *assembler) push(o ordered, emit func(frame)) {
	p := o.p
	if len(p.Payload) == 0 {
		return // padding: between frames, carries nothing
	}
	if a.open && p.Timestamp != a.cur.ts {
		a.end(false, emit) // its marker never came
	}
	if !a.open {
		a.cur = frame{ts: p.Timestamp, payloads: a.cur.payloads[:0]}
		a.open, a.broken = true, false
	}
	if o.lost > 0 {
		// The lost packets were this frame's first or the previous one's last: either way
		// this one cannot be decoded (and the previous one, if it lost its end, was ended
		// above or will show no marker).
		a.broken = true
	}
	a.cur.payloads = append(a.cur.payloads, p.Payload)
	if p.Marker {
		a.end(true, emit)
	}
}

func (a *assembler) end(marker bool, emit func(frame)) {
	a.cur.whole = marker && !a.broken
	a.open = false
	emit(a.cur)
}

// flush ends the frame in progress (the stream ended before its marker): it is not whole.
func (a *assembler) flush(emit func(frame)) {
	if a.open {
		a.end(false, emit)
	}
}
