package wire

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// ErrBadSDP is returned for session descriptions the relay refuses to forward.
var ErrBadSDP = errors.New("session description refused")

// maxSDPSize bounds one description; real ones are a few KiB.
const maxSDPSize = 32 << 10

// CheckSDP parses a session description and refuses one that does not carry exactly one DTLS
// fingerprint. pion accepts a certificate matching any a=fingerprint line, so a second line
// injected by whoever can touch signaling would let them sit in the middle (SECURITY.md).
func CheckSDP(raw string) error {
	if raw == "" || len(raw) > maxSDPSize {
		return fmt.Errorf("%w: empty or over %d bytes", ErrBadSDP, maxSDPSize)
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(raw); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	fingerprints := map[string]struct{}{}
	lines := 0
	collect := func(attrs []sdp.Attribute) {
		for _, a := range attrs {
			if a.Key == "fingerprint" {
				lines++
				fingerprints[strings.ToLower(strings.TrimSpace(a.Value))] = struct{}{}
			}
		}
	}
	collect(desc.Attributes)
	for _, m := range desc.MediaDescriptions {
		collect(m.Attributes)
	}
	// The same fingerprint repeated per media section is normal (BUNDLE); two different ones, or
	// two lines in one section, are not.
	if len(fingerprints) != 1 {
		return fmt.Errorf("%w: %d distinct DTLS fingerprints, want exactly 1", ErrBadSDP, len(fingerprints))
	}
	if lines > 1+len(desc.MediaDescriptions) {
		return fmt.Errorf("%w: repeated fingerprint lines", ErrBadSDP)
	}
	return nil
}
