package h264

import (
	"errors"
	"fmt"
)

// Profiles (profile_idc).
const (
	ProfileBaseline = 66
	ProfileMain     = 77
	ProfileHigh     = 100
)

// SPS holds the fields of a sequence parameter set that kvmrelay uses.
type SPS struct {
	ProfileIDC int
	// Constraints is the byte of constraint_set0…5 flags, constraint_set0 in the top bit, as
	// it appears in profile-level-id.
	Constraints byte
	LevelIDC    int
	// ID is seq_parameter_set_id (0…31).
	ID int
	// Width and Height are the cropped picture size in pixels.
	Width, Height int
}

// ConstrainedBaseline reports whether the stream is Constrained Baseline: baseline with
// constraint_set1 (A.2.1.1), which WebRTC endpoints must all decode.
func (s SPS) ConstrainedBaseline() bool {
	return s.ProfileIDC == ProfileBaseline && s.Constraints&0x40 != 0
}

// ProfileLevelID is the SDP profile-level-id (RFC 6184) of the stream, e.g. "42c01f".
func (s SPS) ProfileLevelID() string {
	return fmt.Sprintf("%02x%02x%02x", s.ProfileIDC, s.Constraints, s.LevelIDC)
}

// ParseSPS parses an SPS NAL unit (header byte included, no start code).
func ParseSPS(nal []byte) (SPS, error) {
	if NALType(nal) != NALSPS {
		return SPS{}, errors.New("h264: not an SPS NAL unit")
	}
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	var s SPS
	s.ProfileIDC = int(r.u(8))
	s.Constraints = byte(r.u(8))
	s.LevelIDC = int(r.u(8))
	id := r.ue() // seq_parameter_set_id
	if id > 31 {
		return SPS{}, fmt.Errorf("h264: seq_parameter_set_id %d invalid", id)
	}
	s.ID = int(id)

	chromaFormat := uint32(1)
	separateColourPlanes := false
	switch s.ProfileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chromaFormat = r.ue()
		if chromaFormat > 3 {
			return SPS{}, fmt.Errorf("h264: chroma_format_idc %d invalid", chromaFormat)
		}
		if chromaFormat == 3 {
			separateColourPlanes = r.u(1) == 1
		}
		r.ue()           // bit_depth_luma_minus8
		r.ue()           // bit_depth_chroma_minus8
		r.u(1)           // qpprime_y_zero_transform_bypass_flag
		if r.u(1) == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chromaFormat == 3 {
				lists = 12
			}
			for i := range lists {
				if r.u(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.u(1) // delta_pic_order_always_zero_flag
		r.se() // offset_for_non_ref_pic
		r.se() // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return SPS{}, fmt.Errorf("h264: num_ref_frames_in_pic_order_cnt_cycle %d invalid", n)
		}
		for range n {
			r.se()
		}
	}
	r.ue() // max_num_ref_frames
	r.u(1) // gaps_in_frame_num_value_allowed_flag
	widthMBs := r.ue() + 1
	heightMapUnits := r.ue() + 1
	frameMBsOnly := r.u(1)
	if frameMBsOnly == 0 {
		r.u(1) // mb_adaptive_frame_field_flag
	}
	r.u(1) // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint32
	if r.u(1) == 1 {
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return SPS{}, fmt.Errorf("parse sps: %w", r.err)
	}
	if widthMBs > 1024 || heightMapUnits > 1024 {
		return SPS{}, fmt.Errorf("h264: picture %dx%d macroblocks too large", widthMBs, heightMapUnits)
	}

	// Crop units (7.4.2.1.1).
	cropX, cropY := uint32(1), 2-frameMBsOnly
	if chromaFormat != 0 && !separateColourPlanes {
		subW, subH := uint32(2), uint32(2)
		switch chromaFormat {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*(2-frameMBsOnly)
	}
	w := int64(widthMBs)*16 - int64(cropX)*(int64(cropL)+int64(cropR))
	h := int64(heightMapUnits)*16*int64(2-frameMBsOnly) - int64(cropY)*(int64(cropT)+int64(cropB))
	if w <= 0 || h <= 0 {
		return SPS{}, fmt.Errorf("h264: cropping leaves %dx%d", w, h)
	}
	s.Width, s.Height = int(w), int(h)
	return s, nil
}

func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}
