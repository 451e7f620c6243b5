// Package h264 reads the parts of an H.264 stream kvmrelay cares about: Annex-B byte streams
// cut into access units (Splitter), the SPS fields that name the profile and level a browser
// must decode (the SDP profile-level-id, and whether a browser's offer can decode it), and the
// Gate that makes a camera's access units fit for WebRTC (start at an IDR, SPS and PPS in
// front of every IDR, no B-frames). It parses bytes that may come from a device, so it never
// panics on malformed input and bounds what it keeps.
package h264

// NAL unit types (ITU-T H.264 table 7-1) that kvmrelay looks at.
const (
	NALSlice    = 1
	NALIDRSlice = 5
	NALSEI      = 6
	NALSPS      = 7
	NALPPS      = 8
	NALAUD      = 9
)

// NALType returns the nal_unit_type of a NAL unit (without start code), or 0 when empty.
func NALType(nal []byte) int {
	if len(nal) == 0 {
		return 0
	}
	return int(nal[0] & 0x1F)
}

// SplitAnnexB splits an Annex-B byte stream at its 3- and 4-byte start codes and returns the
// NAL units without start codes. The slices alias b.
func SplitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			i++
			continue
		}
		if start >= 0 {
			end := i
			if end > start && b[end-1] == 0 { // 4-byte start code: its leading zero
				end--
			}
			nals = appendNAL(nals, b[start:end])
		}
		i += 3
		start = i
	}
	if start >= 0 {
		nals = appendNAL(nals, b[start:])
	}
	return nals
}

func appendNAL(nals [][]byte, nal []byte) [][]byte {
	// Trailing zero bytes belong to the stream, not the NAL unit (7.4.1.2.4).
	for len(nal) > 0 && nal[len(nal)-1] == 0 {
		nal = nal[:len(nal)-1]
	}
	if len(nal) == 0 {
		return nals
	}
	return append(nals, nal)
}

// unescapeRBSP removes emulation-prevention bytes (00 00 03 → 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}
