package wire

import "fmt"

// Session kinds (fan-out through the relay). A console session normally gets the device's
// video and its input channels from the agent. Past the relay's P2P viewer limit a console
// gets only the input channels from the agent (Video false) and its video from the relay,
// which receives the device's stream once over an uplink session of its own (Uplink).

// A relayed viewer's video comes over a second peer connection, the relay's own, negotiated
// under the console's session id: the relay offers (video-offer, an SDP with one send-only
// video m-line), the console answers (video-answer), both trickle (video-candidate, a
// Candidate; empty ends gathering). Only the relay sends video-offer; an agent sends none of
// the three.

// UplinkSIDPrefix starts the session id of a relay's uplink: the relay's own sessions are told
// apart from consoles' (whose ids the relay mints as "s_…") in logs and the registry.
const UplinkSIDPrefix = "up_"

// WantsVideo reports whether the session gets the video track: absent Video is an older
// relay's session-start, which always wanted it; an uplink is video by definition.
func (s SessionStart) WantsVideo() bool {
	return s.Uplink || s.Video == nil || *s.Video
}

// CheckKind reports whether the session's kind is coherent: an uplink carries video. (A grant
// this version does not know is not refused here: the agent lets such a session watch.)
func (s SessionStart) CheckKind() error {
	if s.Uplink && s.Video != nil && !*s.Video {
		return fmt.Errorf("%w: an uplink session without video", ErrBadMessage)
	}
	return nil
}

// Bool returns a pointer to b, for SessionStart.Video.
func Bool(b bool) *bool { return &b }
