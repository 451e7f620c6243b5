package sfu

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

// stapA builds an RTP STAP-A payload from NAL units.
func stapA(nals ...[]byte) []byte {
	b := []byte{0x78} // F=0, NRI=3, type 24
	for _, n := range nals {
		b = binary.BigEndian.AppendUint16(b, uint16(len(n)))
		b = append(b, n...)
	}
	return b
}

// keyframeCases are the detector's table, and the fuzzer's seeds.
var keyframeCases = []struct {
	name    string
	mime    string
	payload []byte
	want    bool
}{
	{"h264 empty", webrtc.MimeTypeH264, nil, false},
	{"h264 single IDR", webrtc.MimeTypeH264, []byte{0x65, 0x88, 0x84}, true},
	{"h264 single SPS", webrtc.MimeTypeH264, []byte{0x67, 0x42, 0xe0, 0x1f}, true},
	{"h264 single PPS", webrtc.MimeTypeH264, []byte{0x68, 0xce, 0x3c, 0x80}, false},
	{"h264 single non-IDR slice", webrtc.MimeTypeH264, []byte{0x41, 0x9a, 0x02}, false},
	{"h264 single SEI", webrtc.MimeTypeH264, []byte{0x06, 0x05, 0x10}, false},
	{"h264 STAP-A SPS+PPS", webrtc.MimeTypeH264, stapA([]byte{0x67, 0x42, 0xe0, 0x1f}, []byte{0x68, 0xce}), true},
	{"h264 STAP-A SEI then IDR", webrtc.MimeTypeH264, stapA([]byte{0x06, 0x05}, []byte{0x65, 0x88}), true},
	{"h264 STAP-A slices only", webrtc.MimeTypeH264, stapA([]byte{0x41, 0x9a}, []byte{0x41, 0x9b}), false},
	{"h264 STAP-A empty unit then SPS", webrtc.MimeTypeH264, stapA([]byte{}, []byte{0x67, 0x42}), true},
	{"h264 STAP-A truncated before the SPS", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x09, 0x67, 0x42}, false},
	{"h264 STAP-A size byte only", webrtc.MimeTypeH264, []byte{0x78, 0x00}, false},
	{"h264 FU-A IDR start", webrtc.MimeTypeH264, []byte{0x7c, 0x85, 0x88}, true},
	{"h264 FU-A IDR middle", webrtc.MimeTypeH264, []byte{0x7c, 0x05, 0x88}, false},
	{"h264 FU-A IDR end", webrtc.MimeTypeH264, []byte{0x7c, 0x45, 0x88}, false},
	{"h264 FU-A non-IDR start", webrtc.MimeTypeH264, []byte{0x5c, 0x81, 0x9a}, false},
	{"h264 FU-A header only", webrtc.MimeTypeH264, []byte{0x7c}, false},
	{"h264 FU-B", webrtc.MimeTypeH264, []byte{0x7d, 0x85, 0x00, 0x01}, false},
	{"vp8 key frame, no extension", webrtc.MimeTypeVP8, []byte{0x10, 0x50, 0x2a}, true},
	{"vp8 inter frame", webrtc.MimeTypeVP8, []byte{0x10, 0x51, 0x2a}, false},
	{"vp8 key frame, continuation packet", webrtc.MimeTypeVP8, []byte{0x00, 0x50, 0x2a}, false},
	{"vp8 key frame, partition 1", webrtc.MimeTypeVP8, []byte{0x11, 0x50, 0x2a}, false},
	{"vp8 key frame, 15-bit picture ID", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x50}, true},
	{"vp8 inter frame, 7-bit picture ID", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x23, 0x51}, false},
	{"vp8 key frame, all extensions", webrtc.MimeTypeVP8, []byte{0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, 0x50}, true},
	{"vp8 descriptor only", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x81, 0x23}, false},
	{"vp8 empty", webrtc.MimeTypeVP8, []byte{}, false},
	{"unknown codec", "video/AV1", []byte{0x10, 0x50}, false},
	{"mime type case", "VIDEO/h264", []byte{0x65}, true},
}

func TestIsKeyframe(t *testing.T) {
	for _, tc := range keyframeCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsKeyframe(tc.mime, tc.payload))
		})
	}
}

// FuzzKeyframe checks the detectors never panic and agree with references built on pion's
// depacketizers, which parse the same payloads their own way.
func FuzzKeyframe(f *testing.F) {
	for _, tc := range keyframeCases {
		f.Add(tc.payload)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if want, ok := h264KeyframeReference(payload); ok {
			assert.Equal(t, want, h264Keyframe(payload), "h264 %x", payload)
		} else {
			_ = h264Keyframe(payload)
		}
		if want, ok := vp8KeyframeReference(payload); ok {
			assert.Equal(t, want, vp8Keyframe(payload), "vp8 %x", payload)
		} else {
			_ = vp8Keyframe(payload)
		}
	})
}

// h264KeyframeReference decides from pion's depacketizer (AVC output: 32-bit length, NAL
// unit); ok is false where pion rejects the payload.
func h264KeyframeReference(payload []byte) (key, ok bool) {
	if len(payload) >= 2 && payload[0]&0x1f == nalFUA {
		// pion only returns a fragmented unit once its end arrives: judge the start here.
		return payload[1]&0x80 != 0 && h264KeyNAL(int(payload[1]&0x1f)), true
	}
	out, err := (&codecs.H264Packet{IsAVC: true}).Unmarshal(payload)
	if err != nil {
		return false, false
	}
	for len(out) >= 4 {
		n := int(binary.BigEndian.Uint32(out))
		out = out[4:]
		if h264KeyNAL(h264.NALType(out[:n])) {
			return true, true
		}
		out = out[n:]
	}
	return false, true
}

// vp8KeyframeReference decides from pion's payload descriptor parser.
func vp8KeyframeReference(payload []byte) (key, ok bool) {
	var p codecs.VP8Packet
	body, err := p.Unmarshal(payload)
	if err != nil {
		return false, false
	}
	return p.S == 1 && p.PID == 0 && len(body) > 0 && body[0]&0x01 == 0, true
}
