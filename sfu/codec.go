package sfu

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// The payload types, H.264 profile and header extensions the agent uses (agent/webrtc.go,
// agent/rtpext.go): the relay's side of both hops offers and accepts the same, so a stream
// passes through as the agent sent it.
const (
	PayloadTypeH264      = 102
	PayloadTypeVP8       = 96
	DefaultH264ProfileID = "42e01f"
	PlayoutDelayURI      = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
	AbsCaptureTimeURI    = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
)

// VideoCodecs returns H.264 (packetization-mode 1, profile-level-id h264ProfileID; empty is
// DefaultH264ProfileID) and VP8, with NACK, PLI, FIR and transport-cc feedback. A device that
// sends H.264 of another profile (a camera's, passed through) needs its own profile offered.
func VideoCodecs(h264ProfileID string) []webrtc.RTPCodecParameters {
	if h264ProfileID == "" {
		h264ProfileID = DefaultH264ProfileID
	}
	feedback := []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: webrtc.TypeRTCPFBTransportCC},
	}
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: feedback,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + h264ProfileID,
		}, PayloadType: PayloadTypeH264},
		{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: feedback,
		}, PayloadType: PayloadTypeVP8},
	}
}

// matchCodec picks, among the codecs a viewer's connection negotiated, the one the upstream
// stream can be sent as unchanged: the same MIME type and, for H.264, the same packetization
// mode and profile (profile_idc and constraint flags, else profile_idc alone). The level may
// differ: a receiver's level is a capability, not a demand.
func matchCodec(stream webrtc.RTPCodecCapability, negotiated []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	isH264 := strings.EqualFold(stream.MimeType, webrtc.MimeTypeH264)
	want := fmtpParams(stream.SDPFmtpLine)
	var fallback *webrtc.RTPCodecParameters
	for i, c := range negotiated {
		if !strings.EqualFold(c.MimeType, stream.MimeType) {
			continue
		}
		if !isH264 {
			return c, true
		}
		got := fmtpParams(c.SDPFmtpLine)
		if packetizationMode(got) != packetizationMode(want) {
			continue
		}
		wp, gp := strings.ToLower(want["profile-level-id"]), strings.ToLower(got["profile-level-id"])
		if len(wp) >= 4 && len(gp) >= 4 && wp[:4] == gp[:4] {
			return c, true
		}
		if fallback == nil && len(wp) >= 2 && len(gp) >= 2 && wp[:2] == gp[:2] {
			fallback = &negotiated[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// fmtpParams splits an fmtp line into lower-case keys and their values.
func fmtpParams(line string) map[string]string {
	params := map[string]string{}
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			params[strings.ToLower(k)] = v
		}
	}
	return params
}

// packetizationMode is an H.264 fmtp's packetization-mode; absent means 0 (RFC 6184).
func packetizationMode(params map[string]string) string {
	if m, ok := params["packetization-mode"]; ok {
		return m
	}
	return "0"
}
