package sfu

import (
	"encoding/binary"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

// IsKeyframe reports whether an RTP payload of the codec mimeType begins a keyframe: a
// receiver that has nothing can start decoding here. Unknown codecs are never keyframes.
func IsKeyframe(mimeType string, payload []byte) bool {
	detect := keyframeDetector(mimeType)
	return detect != nil && detect(payload)
}

// keyframeDetector returns the detector for mimeType, nil for a codec the forwarder cannot
// follow.
func keyframeDetector(mimeType string) func([]byte) bool {
	switch {
	case strings.EqualFold(mimeType, webrtc.MimeTypeH264):
		return h264Keyframe
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP8):
		return vp8Keyframe
	}
	return nil
}

// RTP packetization NAL unit types (RFC 6184 section 5.2).
const (
	nalSTAPA = 24
	nalFUA   = 28
)

// h264KeyNAL reports an SPS or an IDR slice NAL unit type.
func h264KeyNAL(t int) bool { return t == h264.NALIDRSlice || t == h264.NALSPS }

// h264Keyframe reports whether an RTP payload (RFC 6184, packetization mode 0 or 1) carries
// an SPS or the start of an IDR slice. An SPS counts because encoders put the parameter sets
// right before an IDR (the agent's packetizer sends them in one STAP-A), and a receiver that
// joins needs them first; an IDR alone counts for streams whose parameter sets came out of
// band.
func h264Keyframe(payload []byte) bool {
	if len(payload) == 0 {
		return false
	}
	switch t := h264.NALType(payload); t {
	case h264.NALIDRSlice, h264.NALSPS:
		return true
	case nalSTAPA:
		// One-byte STAP-A header, then (16-bit size, NAL unit) pairs.
		for rest := payload[1:]; len(rest) >= 2; {
			size := int(binary.BigEndian.Uint16(rest))
			rest = rest[2:]
			if size > len(rest) {
				return false // truncated: trust nothing in it
			}
			if h264KeyNAL(h264.NALType(rest[:size])) {
				return true
			}
			rest = rest[size:]
		}
		return false
	case nalFUA:
		// FU indicator, then the FU header: S bit, E bit, reserved, original NAL type.
		if len(payload) < 2 {
			return false
		}
		start := payload[1]&0x80 != 0
		return start && h264KeyNAL(int(payload[1]&0x1f))
	}
	return false
}

// vp8Keyframe reports whether an RTP payload (RFC 7741) is the first packet of a VP8 key
// frame: the payload descriptor's S bit set with partition index 0, and the P bit of the VP8
// payload header that follows the descriptor clear.
func vp8Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	d := payload[0]
	start, partition := d&0x10 != 0, d&0x07
	if !start || partition != 0 {
		return false
	}
	i := 1
	if d&0x80 != 0 { // X: an extension byte follows
		if len(payload) <= i {
			return false
		}
		x := payload[i]
		i++
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits (M)
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX share one byte
			i++
		}
	}
	if len(payload) <= i {
		return false
	}
	return payload[i]&0x01 == 0 // P: 0 for a key frame
}
