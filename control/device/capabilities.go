package device

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// Limits on what an agent reports about itself. Everything an agent says is hostile text:
// it is cut to these sizes and stripped of control characters, and otherwise kept verbatim
// (no HTML escaping here: whoever renders it escapes it, once).
const (
	MaxVersionLen = 64 // bytes
	MaxItems      = 16 // entries per capability list
	MaxItemLen    = 64 // bytes per entry
)

// Capabilities is what an agent can serve, from its heartbeat: video sources, frame sizes
// ("1920x1080") and codecs ("video/H264"). The store keeps it as the JSON EncodeCapabilities
// makes; ParseCapabilities reads it back.
type Capabilities struct {
	Sources []string `json:"sources"`
	Sizes   []string `json:"sizes"`
	Codecs  []string `json:"codecs"`
	// Signal is the health of the agent's video source; nil from agents that do not report it.
	Signal *Signal `json:"signal,omitempty"`
}

// Signal is an agent's video source health: which source (a spec without secrets), its state,
// why it is not live and since when (Unix milliseconds).
type Signal struct {
	Source string `json:"source"`
	State  string `json:"state"`
	Error  string `json:"error,omitempty"`
	Since  int64  `json:"since"`
}

// Signal states an agent reports; anything else is not stored.
const (
	SignalLive       = "live"
	SignalConnecting = "connecting"
	SignalNone       = "no-signal"
	// SignalStandby: an on-demand source (Intel AMT) that connects when a console opens.
	SignalStandby = "standby"
)

// Limits on the signal text: a source spec and an error line.
const (
	MaxSignalSourceLen = 256
	MaxSignalErrorLen  = 512
)

// clean returns s held to the limits, or nil when its state is not one agents report.
func (s *Signal) clean() *Signal {
	if s == nil {
		return nil
	}
	switch s.State {
	case SignalLive, SignalConnecting, SignalNone, SignalStandby:
	default:
		return nil
	}
	return &Signal{Source: CleanText(s.Source, MaxSignalSourceLen), State: s.State,
		Error: CleanText(s.Error, MaxSignalErrorLen), Since: max(s.Since, 0)}
}

// CleanText makes agent-supplied text safe to store and log: invalid UTF-8 becomes U+FFFD,
// control and format characters (C0/C1 controls, bidi overrides, zero-width characters, line
// and paragraph separators) are dropped, surrounding space is trimmed, and the result is cut
// to at most max bytes on a character boundary. It reads no more of s than it needs.
func CleanText(s string, max int) string { return safetext.Clean(s, max) }

// Clean returns c with at most MaxItems non-empty entries per list, each cleaned by
// CleanText to MaxItemLen bytes. Lists are never nil, so the JSON has [] rather than null.
func (c Capabilities) Clean() Capabilities {
	return Capabilities{Sources: cleanList(c.Sources), Sizes: cleanList(c.Sizes), Codecs: cleanList(c.Codecs), Signal: c.Signal.clean()}
}

func cleanList(in []string) []string {
	out := make([]string, 0, min(len(in), MaxItems))
	for _, s := range in {
		if len(out) == MaxItems {
			break
		}
		if s = CleanText(s, MaxItemLen); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// EncodeCapabilities returns the cleaned capabilities as the compact JSON the store keeps.
func EncodeCapabilities(c Capabilities) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)  // stored verbatim; escaped where rendered
	_ = enc.Encode(c.Clean()) // only strings: cannot fail
	return strings.TrimSuffix(buf.String(), "\n")
}

// ParseCapabilities reads what EncodeCapabilities stored; empty text (a device never seen)
// gives empty lists. The result is cleaned again, so rows written by anything else are held
// to the same limits.
func ParseCapabilities(s string) (Capabilities, error) {
	if s == "" {
		return Capabilities{}.Clean(), nil
	}
	var c Capabilities
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return Capabilities{}, fmt.Errorf("device: stored capabilities: %w", err)
	}
	return c.Clean(), nil
}
