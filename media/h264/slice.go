package h264

import (
	"errors"
	"fmt"
)

// Slice types (slice_type modulo 5, table 7-6).
const (
	SliceP  = 0
	SliceB  = 1
	SliceI  = 2
	SliceSP = 3
	SliceSI = 4
)

// SliceHeader holds the leading fields of a slice header (7.3.3): enough to tell where a new
// picture starts and whether it uses B prediction.
type SliceHeader struct {
	FirstMB uint32
	// Type is slice_type modulo 5: SliceP, SliceB, SliceI, SliceSP or SliceSI.
	Type  int
	PPSID uint32
}

// sliceHeaderPrefix bounds how much of a slice ParseSliceHeader reads: three Exp-Golomb codes
// of at most 32 bits each, with room for emulation-prevention bytes.
const sliceHeaderPrefix = 24

// IsSlice reports whether a NAL unit type is a coded slice of the primary picture (non-IDR
// or IDR), the VCL units a decoder needs.
func IsSlice(nalType int) bool { return nalType == NALSlice || nalType == NALIDRSlice }

// ParseSliceHeader reads first_mb_in_slice, slice_type and pic_parameter_set_id from a slice
// NAL unit (header byte included, no start code). It looks at the first bytes only.
func ParseSliceHeader(nal []byte) (SliceHeader, error) {
	if !IsSlice(NALType(nal)) {
		return SliceHeader{}, errors.New("h264: not a slice NAL unit")
	}
	r := &bitReader{b: unescapeRBSP(nal[1:min(len(nal), 1+sliceHeaderPrefix)])}
	var h SliceHeader
	h.FirstMB = r.ue()
	t := r.ue()
	h.PPSID = r.ue()
	if r.err != nil {
		return SliceHeader{}, fmt.Errorf("parse slice header: %w", r.err)
	}
	if t > 9 {
		return SliceHeader{}, fmt.Errorf("h264: slice_type %d invalid", t)
	}
	if h.PPSID > 255 {
		return SliceHeader{}, fmt.Errorf("h264: pic_parameter_set_id %d invalid", h.PPSID)
	}
	h.Type = int(t % 5)
	return h, nil
}

// PPS holds the identifiers of a picture parameter set.
type PPS struct {
	ID, SPSID uint32
}

// ParsePPS reads pic_parameter_set_id and seq_parameter_set_id from a PPS NAL unit.
func ParsePPS(nal []byte) (PPS, error) {
	if NALType(nal) != NALPPS {
		return PPS{}, errors.New("h264: not a PPS NAL unit")
	}
	r := &bitReader{b: unescapeRBSP(nal[1:min(len(nal), 1+sliceHeaderPrefix)])}
	p := PPS{ID: r.ue(), SPSID: r.ue()}
	if r.err != nil {
		return PPS{}, fmt.Errorf("parse pps: %w", r.err)
	}
	if p.ID > 255 || p.SPSID > 31 {
		return PPS{}, fmt.Errorf("h264: pps id %d / sps id %d out of range", p.ID, p.SPSID)
	}
	return p, nil
}
