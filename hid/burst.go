package hid

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"
)

// Burst attributes the input of one stretch of control by one seat, or of the part of it
// since the last TakeBurst: who, from when to when, how many key and pointer events reached
// the machine, and their digest (the package doc defines it). It never holds the keys.
type Burst struct {
	SID      string
	From, To time.Time
	// Keys counts key events (KEY messages, and the strokes typed for TEXT); Pointer counts
	// BUTTONS, WHEEL, POINTER_ABS and POINTER_REL messages.
	Keys, Pointer int
	// Digest is the lowercase hex SHA-256 of the events.
	Digest string
	// Seq numbers the Arbiter's bursts, from 1: the key strokes a Seat's KeyTap saw in this
	// burst carry it (KeyStroke.Burst).
	Seq uint64
}

// HasInput reports whether any event reached the machine in the burst.
func (b Burst) HasInput() bool { return b.Keys > 0 || b.Pointer > 0 }

// burstDigest counts and digests a burst's events as they are accepted.
type burstDigest struct {
	seq           uint64
	from          time.Time
	keys, pointer int
	h             hash.Hash
	buf           []byte
}

// start begins a new burst at now.
func (d *burstDigest) start(now time.Time) {
	if d.h == nil {
		d.h = sha256.New()
	}
	d.h.Reset()
	d.seq++
	d.from, d.keys, d.pointer = now, 0, 0
}

// record adds one accepted event: its wire bytes, length-prefixed with 2 bytes big endian.
func (d *burstDigest) record(m Message) {
	input, key := isInput(m)
	if !input {
		return
	}
	// Input messages are at most 8 bytes, far below the 2-byte prefix's limit.
	d.buf = m.appendWire(append(d.buf[:0], 0, 0))
	binary.BigEndian.PutUint16(d.buf, uint16(len(d.buf)-2))
	d.h.Write(d.buf)
	if key {
		d.keys++
	} else {
		d.pointer++
	}
}

// snapshot returns the burst so far, for sid, ending at now.
func (d *burstDigest) snapshot(sid string, now time.Time) Burst {
	return Burst{SID: sid, From: d.from, To: now, Keys: d.keys, Pointer: d.pointer, Digest: hex.EncodeToString(d.h.Sum(nil)), Seq: d.seq}
}

// DigestEvents computes the digest of a sequence of events as an Arbiter does: what a
// recording of a stretch of control is checked against. It refuses what Encode refuses and
// skips messages that are not input events (they are never digested).
func DigestEvents(events []Message) (string, error) {
	var d burstDigest
	d.start(time.Time{})
	for _, m := range events {
		if _, err := Encode(m); err != nil {
			return "", err
		}
		d.record(m)
	}
	return d.snapshot("", time.Time{}).Digest, nil
}
