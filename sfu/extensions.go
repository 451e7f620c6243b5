package sfu

import (
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// extensionPair maps one upstream header extension ID to the viewer's ID for the same URI.
type extensionPair struct{ from, to uint8 }

// perHop reports header extensions that describe one transport hop, not the media: the
// viewer's connection writes its own (transport-cc by its interceptor), and the upstream's
// values would mislead it.
func perHop(uri string) bool {
	switch uri {
	case sdp.TransportCCURI, sdp.ABSSendTimeURI, sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI:
		return true
	}
	return false
}

// mapExtensions pairs the upstream's header extensions with the viewer's by URI, leaving out
// per-hop ones and any the viewer did not negotiate.
func mapExtensions(upstream, viewer []webrtc.RTPHeaderExtensionParameter) []extensionPair {
	var pairs []extensionPair
	for _, u := range upstream {
		if perHop(u.URI) || u.ID <= 0 || u.ID > 255 {
			continue
		}
		for _, v := range viewer {
			if v.URI == u.URI && v.ID > 0 && v.ID <= 255 {
				pairs = append(pairs, extensionPair{from: uint8(u.ID), to: uint8(v.ID)})
				break
			}
		}
	}
	return pairs
}

// copyExtensions sets on h (whose Extensions slice is reused between packets) the mapped
// extensions p carries. The profile is fixed first: rtp.Header picks one from the first
// extension's size alone, which is wrong for an ID above 14.
func copyExtensions(h *rtp.Header, p *rtp.Header, pairs []extensionPair) {
	h.Extensions = h.Extensions[:0]
	h.Extension = false
	if !p.Extension || len(pairs) == 0 {
		return
	}
	profile := uint16(rtp.ExtensionProfileOneByte)
	for _, pr := range pairs {
		if b := p.GetExtension(pr.from); b != nil && (pr.to > 14 || len(b) == 0 || len(b) > 16) {
			profile = rtp.ExtensionProfileTwoByte
		}
	}
	h.Extension, h.ExtensionProfile = true, profile
	for _, pr := range pairs {
		if b := p.GetExtension(pr.from); b != nil {
			_ = h.SetExtension(pr.to, b) // checked above: fits the profile
		}
	}
	if len(h.Extensions) == 0 {
		h.Extension = false
	}
}
