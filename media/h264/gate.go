package h264

import (
	"errors"
	"fmt"
)

// ErrBFrames is returned for a stream with B slices: browsers' WebRTC receivers render frames
// in the order they arrive and do not reorder, so such a stream cannot be passed through.
var ErrBFrames = errors.New("h264: the stream has B-frames, which browsers cannot play over WebRTC; " +
	"configure the encoder without them (baseline profile, or B-frames 0 / ffmpeg -bf 0)")

// maxParamSetSize bounds a stored SPS or PPS; real ones are tens of bytes.
const maxParamSetSize = 4096

// Gate lets access units through in the form every WebRTC receiver decodes: it holds back
// everything until an IDR (a receiver cannot start elsewhere), puts the SPS and PPS in front of
// every IDR that lacks them (cameras often send them only in the SDP or only now and then),
// and refuses B slices. After a loss (Lost) it holds back again until the next IDR: a P-frame
// whose reference is missing only smears the picture. Not safe for concurrent use.
type Gate struct {
	sps    [32][]byte  // by seq_parameter_set_id
	pps    [256][]byte // by pic_parameter_set_id
	latest SPS
	// hasSPS is set once an SPS parsed; open once an IDR went through since the start or the
	// last loss.
	hasSPS, open bool
	// Held counts access units held back waiting for an IDR.
	Held int
}

// Unit is an access unit the Gate let through.
type Unit struct {
	// Data is the access unit in Annex-B form (4-byte start codes), a fresh slice.
	Data []byte
	// Keyframe is set for an IDR access unit, which then carries its SPS and PPS.
	Keyframe bool
	// NewSPS is set when this unit's SPS differs from the one before (the first one, or the
	// encoder changed its size or profile).
	NewSPS bool
}

// SetParameterSets stores parameter sets known out of band (an SDP's sprop-parameter-sets);
// invalid ones are an error and not stored.
func (g *Gate) SetParameterSets(nals ...[]byte) error {
	for _, n := range nals {
		if _, err := g.store(n); err != nil {
			return err
		}
	}
	return nil
}

// SPS returns the last SPS seen; ok is false before the first.
func (g *Gate) SPS() (sps SPS, ok bool) { return g.latest, g.hasSPS }

// Lost reports that access units were lost (a dropped oversized unit, missing RTP packets):
// nothing passes until the next IDR.
func (g *Gate) Lost() { g.open = false }

// Pass takes one access unit (NAL units without start codes) and returns what to send: ok is
// false while the Gate waits for an IDR. The error is ErrBFrames, or a parameter set that does
// not parse; after either the stream should be abandoned.
func (g *Gate) Pass(nals [][]byte) (u Unit, ok bool, err error) {
	var hasSPS [32]bool
	var hasPPS [256]bool
	idr, size := false, 0
	for _, n := range nals {
		switch t := NALType(n); t {
		case NALSPS, NALPPS:
			changed, err := g.store(n)
			if err != nil {
				return Unit{}, false, err
			}
			u.NewSPS = u.NewSPS || changed
			if t == NALSPS {
				hasSPS[g.latest.ID] = true
			} else if p, err := ParsePPS(n); err == nil {
				hasPPS[p.ID] = true
			}
		case NALIDRSlice, NALSlice:
			h, err := ParseSliceHeader(n)
			if err == nil && h.Type == SliceB {
				return Unit{}, false, ErrBFrames
			}
			idr = idr || t == NALIDRSlice
		}
		size += 4 + len(n)
	}
	switch {
	case !idr && !g.open:
		g.Held++
		return Unit{}, false, nil
	case idr && (!g.hasSPS || !g.hasAnyPPS()):
		// An IDR no receiver can decode: wait for one that comes with its parameter sets.
		g.Held++
		return Unit{}, false, nil
	case idr:
		g.open = true
		for id, s := range g.sps {
			if s != nil && !hasSPS[id] {
				size += 4 + len(s)
			}
		}
		for id, p := range g.pps {
			if p != nil && !hasPPS[id] {
				size += 4 + len(p)
			}
		}
	}
	// Missing SPSs go before the unit's first parameter set or slice (a PPS needs its SPS
	// first), missing PPSs before its first slice.
	data := make([]byte, 0, size)
	spsDone, ppsDone := !idr, !idr
	for _, n := range nals {
		t := NALType(n)
		if t == NALAUD || t == 12 { // delimiters and filler say nothing to a receiver
			continue
		}
		if !spsDone && (t == NALSPS || t == NALPPS || IsSlice(t)) {
			for id, s := range g.sps {
				if s != nil && !hasSPS[id] {
					data = appendNALAnnexB(data, s)
				}
			}
			spsDone = true
		}
		if !ppsDone && IsSlice(t) {
			for id, p := range g.pps {
				if p != nil && !hasPPS[id] {
					data = appendNALAnnexB(data, p)
				}
			}
			ppsDone = true
		}
		data = appendNALAnnexB(data, n)
	}
	u.Data, u.Keyframe = data, idr
	return u, true, nil
}

func appendNALAnnexB(dst, nal []byte) []byte {
	dst = append(dst, 0, 0, 0, 1)
	return append(dst, nal...)
}

func (g *Gate) hasAnyPPS() bool {
	for _, p := range g.pps {
		if p != nil {
			return true
		}
	}
	return false
}

// store keeps a copy of an SPS or PPS; changed reports an SPS different from the last one.
func (g *Gate) store(n []byte) (changed bool, err error) {
	if len(n) > maxParamSetSize {
		return false, fmt.Errorf("h264: parameter set of %d bytes too large", len(n))
	}
	switch NALType(n) {
	case NALSPS:
		s, err := ParseSPS(n)
		if err != nil {
			return false, fmt.Errorf("h264: the stream's SPS: %w", err)
		}
		changed = !g.hasSPS || s != g.latest
		if old := g.sps[s.ID]; old == nil || string(old) != string(n) {
			g.sps[s.ID] = append([]byte(nil), n...)
		}
		g.latest, g.hasSPS = s, true
	case NALPPS:
		p, err := ParsePPS(n)
		if err != nil {
			return false, fmt.Errorf("h264: the stream's PPS: %w", err)
		}
		if old := g.pps[p.ID]; old == nil || string(old) != string(n) {
			g.pps[p.ID] = append([]byte(nil), n...)
		}
	default:
		return false, fmt.Errorf("h264: NAL unit type %d is not a parameter set", NALType(n))
	}
	return changed, nil
}
