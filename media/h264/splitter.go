package h264

import "bytes"

// DefaultMaxAccessUnit bounds one access unit in bytes: a 4K intra picture at high quality
// stays well below it.
const DefaultMaxAccessUnit = 8 << 20

// Splitter cuts an Annex-B byte stream (H.264 B.2) into access units. Push feeds it bytes as
// they arrive; every access unit that is complete comes out of Push, as NAL units without
// start codes that alias memory Splitter never writes again.
//
// An access unit ends where the next one begins (7.4.1.2.3): at an access unit delimiter, an
// SPS, PPS, SEI or NAL type 14…18 after a slice, or at a slice that starts a new picture
// (7.4.1.2.4: first_mb_in_slice 0, or a different PPS, IDR-ness or nal_ref_idc zero-ness than
// the slice before). A byte stream says that only with the next picture's first bytes, so an
// access unit comes out one frame interval after its last byte arrived; Flush ends the last
// one at the end of the stream.
//
// Memory is bounded: an access unit larger than the limit is dropped whole (Dropped counts it)
// and the stream resumes at the next one.
type Splitter struct {
	max int
	// buf holds the bytes after the last start code: the NAL unit in progress (or, before the
	// first start code, bytes to skip).
	buf  []byte
	scan int // where in buf to resume looking for a start code
	// started is set once a start code was seen; classified once the NAL unit in progress was
	// looked at for the start of a new access unit.
	started, classified bool

	nals     [][]byte // complete NAL units of the access unit in progress
	nalBytes int      // their bytes
	vcl      bool     // the access unit in progress has a slice
	last     SliceHeader
	// lastRef and lastIDR describe the last slice for the new-picture rules.
	lastRef, lastIDR bool
	// skip drops the access unit in progress: it outgrew the limit or began with garbage.
	skip bool

	// Dropped counts access units dropped for their size; a decoder needs a new IDR after one.
	Dropped int
}

// maxNALs bounds the NAL units of one access unit (a 1080p picture has 8160 macroblocks;
// encoders cut it into a few slices, not thousands).
const maxNALs = 1024

// classifyBytes is how much of a NAL unit Splitter needs to decide where it belongs.
const classifyBytes = 1 + sliceHeaderPrefix

// NewSplitter returns a Splitter dropping access units larger than maxAU bytes (0 is
// DefaultMaxAccessUnit).
func NewSplitter(maxAU int) *Splitter {
	if maxAU <= 0 {
		maxAU = DefaultMaxAccessUnit
	}
	return &Splitter{max: maxAU}
}

var startCode = []byte{0, 0, 1}

// Push appends p to the stream and returns the access units it completed, oldest first. It
// copies p.
func (s *Splitter) Push(p []byte) [][][]byte {
	var out [][][]byte
	for len(p) > 0 {
		// Feed at most a chunk at a time so that an oversized access unit is noticed before its
		// bytes pile up beyond the limit.
		n := min(len(p), 64<<10)
		s.grow(n)
		s.buf = append(s.buf, p[:n]...)
		p = p[n:]
		out = s.process(out)
	}
	return out
}

// grow makes room for n more bytes in buf. Bytes before buf's start may belong to access
// units already handed out: they are never written again, growing moves only buf itself.
func (s *Splitter) grow(n int) {
	if cap(s.buf)-len(s.buf) >= n {
		return
	}
	b := make([]byte, len(s.buf), max(64<<10, 2*len(s.buf)+n))
	copy(b, s.buf)
	s.buf = b
}

// Flush ends the stream: the access unit in progress is complete. The Splitter starts over.
func (s *Splitter) Flush() [][][]byte {
	var out [][][]byte
	if s.started {
		if !s.classified && s.startsAU(s.buf[:min(len(s.buf), classifyBytes)]) {
			out = s.emit(out)
		}
		s.endNAL(len(s.buf))
	}
	s.started = false
	out = s.emit(out)
	*s = Splitter{max: s.max, Dropped: s.Dropped}
	return out
}

func (s *Splitter) process(out [][][]byte) [][][]byte {
	for {
		i := bytes.Index(s.buf[s.scan:], startCode)
		if i >= 0 {
			i += s.scan
		}
		if !s.started {
			if i < 0 {
				s.discardHead(max(0, len(s.buf)-2))
				return out
			}
			s.discardHead(i + 3)
			s.started, s.scan = true, 0
			continue
		}
		if !s.classified && (i >= 0 || len(s.buf) >= classifyBytes) {
			end := len(s.buf)
			if i >= 0 {
				end = i
			}
			if s.startsAU(s.buf[:min(end, classifyBytes)]) {
				out = s.emit(out)
			}
			s.classified = true
		}
		if i < 0 {
			s.scan = max(0, len(s.buf)-2)
			if s.nalBytes+len(s.buf) > s.max {
				s.overflow()
			}
			return out
		}
		s.endNAL(i)
		s.buf = s.buf[i+3:]
		s.scan, s.classified = 0, false
		if s.nalBytes > s.max || len(s.nals) > maxNALs {
			s.overflow()
		}
	}
}

// discardHead drops the first n bytes of buf.
func (s *Splitter) discardHead(n int) { s.buf = s.buf[n:] }

// endNAL completes the NAL unit in progress, which ends before buf[end] (a start code).
func (s *Splitter) endNAL(end int) {
	nal := s.buf[:end]
	// Trailing zeros are a 4-byte start code's first byte or trailing_zero_8bits.
	for len(nal) > 0 && nal[len(nal)-1] == 0 {
		nal = nal[:len(nal)-1]
	}
	if len(nal) == 0 || nal[0]&0x80 != 0 || s.skip {
		return // empty, forbidden_zero_bit set, or part of a dropped access unit
	}
	s.nals = append(s.nals, nal[:len(nal):len(nal)])
	s.nalBytes += len(nal)
}

// overflow drops the access unit in progress and the bytes of its NAL unit in progress.
func (s *Splitter) overflow() {
	if !s.skip {
		s.Dropped++
	}
	s.nals, s.nalBytes, s.skip = nil, 0, true
	// Keep the NAL unit's last bytes: the next start code may straddle them.
	s.buf = s.buf[max(0, len(s.buf)-2):]
	s.scan = 0
	// The dropped unit had its picture: what follows a slice starts the next access unit.
	s.vcl = true
}

// startsAU looks at the first bytes of a new NAL unit and reports whether it begins a new
// access unit while the one in progress has its picture (7.4.1.2.3).
func (s *Splitter) startsAU(head []byte) bool {
	for len(head) > 0 && head[len(head)-1] == 0 && len(head) < classifyBytes {
		head = head[:len(head)-1]
	}
	t := NALType(head)
	switch {
	case len(head) == 0 || head[0]&0x80 != 0:
		return false
	case t == NALAUD || t == NALSEI || t == NALSPS || t == NALPPS || (t >= 14 && t <= 18):
		return s.vcl
	case !IsSlice(t):
		return false // end of sequence or stream, filler, auxiliary and extension slices
	}
	h, err := ParseSliceHeader(head)
	ref, idr := head[0]&0x60 != 0, t == NALIDRSlice
	newPicture := err == nil && (h.FirstMB == 0 || h.PPSID != s.last.PPSID || ref != s.lastRef || idr != s.lastIDR)
	starts := s.vcl && newPicture
	if err == nil {
		s.last, s.lastRef, s.lastIDR = h, ref, idr
	}
	s.vcl = true
	return starts
}

// emit ends the access unit in progress (not the NAL unit in progress) and appends it to out
// if it has a picture.
func (s *Splitter) emit(out [][][]byte) [][][]byte {
	nals, vcl, skip := s.nals, s.vcl, s.skip
	s.nals, s.nalBytes, s.skip = nil, 0, false
	s.vcl = false
	if s.started && !s.classified {
		// Called from startsAU: the NAL unit being classified is the new unit's first, and
		// startsAU has already noted whether it is a slice.
		s.vcl = IsSlice(NALType(s.buf))
	}
	if skip || !vcl || !hasSlice(nals) {
		return out
	}
	return append(out, nals)
}

func hasSlice(nals [][]byte) bool {
	for _, n := range nals {
		if IsSlice(NALType(n)) {
			return true
		}
	}
	return false
}

// Synced reports whether a start code was seen: bytes before the first one are skipped.
func (s *Splitter) Synced() bool { return s.started }
