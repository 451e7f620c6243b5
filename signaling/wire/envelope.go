package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// Version is the envelope version this relay speaks.
const Version = 1

// Subprotocol is the WebSocket subprotocol both ends negotiate.
const Subprotocol = "kvmrelay.v1"

// MaxMessageSize caps one signaling message; SDP with many candidates stays far below it.
const MaxMessageSize = 64 << 10

// Type is a signaling message type.
type Type string

// Message types; docs/protocol.md lists who sends which.
const (
	TypeWelcome      Type = "welcome"
	TypeJoin         Type = "join"
	TypeAgentStatus  Type = "agent-status"
	TypeOffer        Type = "offer"
	TypeAnswer       Type = "answer"
	TypeCandidate    Type = "candidate"
	TypeBye          Type = "bye"
	TypeToken        Type = "token"
	TypeError        Type = "error"
	TypeHello        Type = "hello"
	TypeSessionStart Type = "session-start"
	TypeHeartbeat    Type = "heartbeat"
	TypeConsent      Type = "consent"
	TypeConsentCode  Type = "consent-code"
	TypePower        Type = "power"
	TypePowerAction  Type = "power-action"
	TypeDisplays     Type = "displays"
	TypeDisplay      Type = "display-select"
	TypeMachines     Type = "machines"
	// Shared sessions (control.go).
	TypeGrant        Type = "grant"
	TypeControl      Type = "control"
	TypeRoster       Type = "roster"
	TypeControlEvent Type = "control-event"
	TypeInputBurst   Type = "input-burst"
	// Relayed video (media.go): the relay's own peer connection to a console.
	TypeVideoOffer     Type = "video-offer"
	TypeVideoAnswer    Type = "video-answer"
	TypeVideoCandidate Type = "video-candidate"
)

// Sentinel errors for envelopes that must be refused.
var (
	ErrBadMessage         = errors.New("malformed signaling message")
	ErrUnsupportedVersion = errors.New("unsupported signaling version")
	ErrUnknownType        = errors.New("unknown signaling message type")
)

// Envelope is one signaling message.
type Envelope struct {
	V    int             `json:"v"`
	Type Type            `json:"type"`
	SID  string          `json:"sid,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Known reports whether t is a message type of this version.
func (t Type) Known() bool {
	switch t {
	case TypeWelcome, TypeJoin, TypeAgentStatus, TypeOffer, TypeAnswer, TypeCandidate,
		TypeBye, TypeToken, TypeError, TypeHello, TypeSessionStart, TypeHeartbeat, TypeConsent, TypeConsentCode, TypePower, TypePowerAction, TypeDisplays, TypeDisplay,
		TypeMachines, TypeGrant, TypeControl, TypeRoster, TypeControlEvent, TypeInputBurst, TypeKeys,
		TypeVideoOffer, TypeVideoAnswer, TypeVideoCandidate:
		return true
	}
	return false
}

// maxSIDLen bounds session ids; ours are 24 characters.
const maxSIDLen = 64

// Decode parses and checks one envelope: version, a known type, a sane sid, and data that is
// absent or a JSON object.
func Decode(b []byte) (Envelope, error) {
	if len(b) > MaxMessageSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes is over %d", ErrBadMessage, len(b), MaxMessageSize)
	}
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if dec.More() {
		return Envelope{}, fmt.Errorf("%w: trailing data", ErrBadMessage)
	}
	if e.V != Version {
		return Envelope{}, fmt.Errorf("%w: %d", ErrUnsupportedVersion, e.V)
	}
	if !e.Type.Known() {
		return Envelope{}, fmt.Errorf("%w: %.32q", ErrUnknownType, e.Type)
	}
	if len(e.SID) > maxSIDLen || !printableID(e.SID) {
		return Envelope{}, fmt.Errorf("%w: bad sid", ErrBadMessage)
	}
	if len(e.Data) > 0 && !isJSONObject(e.Data) {
		return Envelope{}, fmt.Errorf("%w: data must be an object", ErrBadMessage)
	}
	return e, nil
}

func isJSONObject(raw json.RawMessage) bool {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// printableID accepts the URL-safe characters our ids are made of.
func printableID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Encode builds one envelope.
func Encode(t Type, sid string, data any) ([]byte, error) {
	e := Envelope{V: Version, Type: t, SID: sid}
	if raw, ok := data.(json.RawMessage); ok && len(raw) == 0 {
		data = nil // no data, not "data":null
	}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("signaling: encode %s: %w", t, err)
		}
		e.Data = raw
	}
	out, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("signaling: encode %s: %w", t, err)
	}
	return out, nil
}

// DecodeData unmarshals an envelope's data into v, strictly.
func DecodeData(e Envelope, v any) error {
	if len(e.Data) == 0 {
		return fmt.Errorf("%w: %s without data", ErrBadMessage, e.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s data: %w", ErrBadMessage, e.Type, err)
	}
	return nil
}

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Welcome is the first message a console receives.
type Welcome struct {
	SID        string      `json:"sid"`
	Device     string      `json:"device"`
	ICEServers []ICEServer `json:"ice_servers"`
	ExpiresAt  time.Time   `json:"expires_at"`
}

// Join asks the agent for a peer connection.
type Join struct {
	Codecs []string `json:"codecs"`
	// H264Profiles are the H.264 profile-level-ids the browser decodes with
	// packetization-mode 1 (from RTCRtpReceiver.getCapabilities): an agent forwarding a
	// camera's H.264 checks the camera's profile against them.
	H264Profiles []string `json:"h264_profiles,omitempty"`
	ForceRelay   bool     `json:"force_relay,omitempty"`
}

// MaxH264Profiles bounds the profiles a console may list.
const MaxH264Profiles = 32

// SessionStart tells an agent to open a peer connection for a console session.
type SessionStart struct {
	ICEServers   []ICEServer `json:"ice_servers"`
	Codecs       []string    `json:"codecs"`
	H264Profiles []string    `json:"h264_profiles,omitempty"`
	ForceRelay   bool        `json:"force_relay,omitempty"`
	Principal    string      `json:"principal"`
	// Target is the machine a gateway serves the console (an Intel AMT machine's GUID), set
	// by the relay from the console's token; empty for the agent's own device.
	Target string `json:"target,omitempty"`
	// Grant is what the console may do (view, control, admin), derived from the control
	// plane; the agent enforces it. Empty from an older relay: control.
	Grant Grant `json:"grant,omitempty"`
	// Name is the principal's name as other participants see it (an email, a key's name).
	Name string `json:"name,omitempty"`
	// Video says whether the session gets the video track; absent (an older relay) is true.
	// A console whose video the relay forwards gets false: data channels only (media.go).
	Video *bool `json:"video,omitempty"`
	// CaptureKeys asks the agent to report the keys this session types while it holds
	// control (TypeKeys, keys.go): its organization records with full keystroke capture.
	// Absent (an older relay, or capture off): the keys are never sent.
	CaptureKeys bool `json:"capture_keys,omitempty"`
	// Uplink marks the relay's own receive-only peer for the device's video: video track
	// only, no data channels, no input, not on the roster. Only the relay makes one.
	Uplink bool `json:"uplink,omitempty"`
}

// SDP carries an offer or an answer.
type SDP struct {
	SDP string `json:"sdp"`
}

// Candidate is one trickled ICE candidate; an empty Candidate ends gathering.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Bye ends a session.
type Bye struct {
	Reason string `json:"reason"`
}

// AgentStatus tells a console whether its device's agent is connected.
type AgentStatus struct {
	Online bool `json:"online"`
}

// TokenRefresh hands a console a fresh token before the old one expires.
type TokenRefresh struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ErrorMessage reports a refused message. Code is stable; Message is for people and never
// carries internal error text.
type ErrorMessage struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Stable error codes.
const (
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeBadMessage         = "bad-message"
	CodeUnsupportedVersion = "unsupported-version"
	CodeAgentOffline       = "agent-offline"
	CodeSessionEnded       = "session-ended" // final: the console must not reconnect
	CodeInternal           = "internal"
)

// Hello is what an agent says about itself: untrusted text.
type Hello struct {
	Version string   `json:"version"`
	Sources []string `json:"sources,omitempty"`
	Codecs  []string `json:"codecs,omitempty"`
}

// Heartbeat is an agent's periodic report (every 10 s, and once right after hello): its
// version and what it can serve. Untrusted text: the relay caps and cleans it before storing.
type Heartbeat struct {
	Version string   `json:"version"`
	Sources []string `json:"sources,omitempty"`
	Sizes   []string `json:"sizes,omitempty"`
	Codecs  []string `json:"codecs,omitempty"`
	// Signal is the health of the agent's video source.
	Signal *SourceHealth `json:"signal,omitempty"`
}

// SourceHealth is the state of an agent's video source: "live", "connecting" or
// "no-signal", why it is not live, and since when (Unix milliseconds).
type SourceHealth struct {
	Source string `json:"source"`
	State  string `json:"state"`
	Error  string `json:"error,omitempty"`
	Since  int64  `json:"since"`
}

// Consent is an agent's report on a machine's user consent (Intel AMT shows a 6-digit code on
// the managed machine's screen): "required" until ExpiresAt (Error says why the last code was
// refused), then "accepted", "expired" or "cancelled".
type Consent struct {
	// ID echoes the consent-code message this report answers (empty for the reports every
	// console gets).
	ID        string    `json:"id,omitempty"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Error     string    `json:"error,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
}

// Consent states.
const (
	// ConsentNone: the agent's machine asks for no consent now (the answer to a code sent
	// when none was asked for).
	ConsentNone      = "none"
	ConsentRequired  = "required"
	ConsentAccepted  = "accepted"
	ConsentExpired   = "expired"
	ConsentCancelled = "cancelled"
)

// MaxConsentError bounds the reason an agent gives for a refused code.
const MaxConsentError = 256

// Check reports whether an agent's consent report is one this version knows.
func (c Consent) Check() error {
	switch c.State {
	case ConsentNone, ConsentRequired, ConsentAccepted, ConsentExpired, ConsentCancelled:
	default:
		return fmt.Errorf("%w: consent state %.32q", ErrBadMessage, c.State)
	}
	if len(c.Error) > MaxConsentError || c.Attempts < 0 || len(c.ID) > maxSIDLen || !printableID(c.ID) {
		return fmt.Errorf("%w: consent report out of bounds", ErrBadMessage)
	}
	if p, bad := safetext.First(c.Error); bad {
		return fmt.Errorf("%w: consent error text has %s", ErrBadMessage, p)
	}
	return nil
}

// ConsentCode carries the code a person typed to the agent, or withdraws the request.
type ConsentCode struct {
	Code   string `json:"code,omitempty"`
	Cancel bool   `json:"cancel,omitempty"`
	// ID, when set, is echoed in the agent's answer (the API waits for its own).
	ID string `json:"id,omitempty"`
}

// Check reports whether the message is a 6-digit code or a cancel, not both.
func (c ConsentCode) Check() error {
	if len(c.ID) > maxSIDLen || !printableID(c.ID) {
		return fmt.Errorf("%w: consent-code id", ErrBadMessage)
	}
	if c.Cancel {
		if c.Code != "" {
			return fmt.Errorf("%w: consent-code with both a code and cancel", ErrBadMessage)
		}
		return nil
	}
	if len(c.Code) != 6 {
		return fmt.Errorf("%w: a consent code is 6 digits", ErrBadMessage)
	}
	for i := 0; i < len(c.Code); i++ {
		if c.Code[i] < '0' || c.Code[i] > '9' {
			return fmt.Errorf("%w: a consent code is 6 digits", ErrBadMessage)
		}
	}
	return nil
}

// Power is an agent's report on its machine's power, for a source that controls it (Intel
// AMT): State ("on", "off", "sleep", "unknown"), the Actions it offers, and after an action
// the Action asked and its Error (empty: done).
type Power struct {
	// ID echoes the power-action this report answers (only to the console that asked).
	ID      string   `json:"id,omitempty"`
	State   string   `json:"state"`
	Actions []string `json:"actions,omitempty"`
	Action  string   `json:"action,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// PowerAction asks the agent to switch its machine's power.
type PowerAction struct {
	Action string `json:"action"`
	// ID is set by the relay when it forwards the action, and echoed in the agent's report
	// of its outcome, which the relay audits.
	ID string `json:"id,omitempty"`
}

// Power actions.
const (
	PowerOn    = "on"
	PowerOff   = "off"
	PowerReset = "reset"
	PowerCycle = "cycle"
)

// MaxPowerError bounds the reason an agent gives for a failed action.
const MaxPowerError = 256

// Check reports whether a is an action this version knows.
func (a PowerAction) Check() error {
	if len(a.ID) > maxSIDLen || !printableID(a.ID) {
		return fmt.Errorf("%w: power-action id", ErrBadMessage)
	}
	switch a.Action {
	case PowerOn, PowerOff, PowerReset, PowerCycle:
		return nil
	}
	return fmt.Errorf("%w: power action %.32q", ErrBadMessage, a.Action)
}

// Check reports whether an agent's power report is within bounds.
func (p Power) Check() error {
	switch p.State {
	case "on", "off", "sleep", "unknown":
	default:
		return fmt.Errorf("%w: power state %.32q", ErrBadMessage, p.State)
	}
	if len(p.Actions) > 4 || len(p.Error) > MaxPowerError || len(p.ID) > maxSIDLen || !printableID(p.ID) {
		return fmt.Errorf("%w: power report out of bounds", ErrBadMessage)
	}
	if pr, bad := safetext.First(p.Error); bad {
		return fmt.Errorf("%w: power error text has %s", ErrBadMessage, pr)
	}
	for _, a := range append(append([]string(nil), p.Actions...), p.Action) {
		if a != "" && (PowerAction{Action: a}).Check() != nil {
			return fmt.Errorf("%w: power action %.32q", ErrBadMessage, a)
		}
	}
	return nil
}

// Displays lists the screens of a machine with several (Intel AMT), and which one is shown.
type Displays struct {
	Displays []DisplayInfo `json:"displays"`
}

// DisplayInfo is one screen.
type DisplayInfo struct {
	Index   int    `json:"index"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Role    string `json:"role,omitempty"`
	Current bool   `json:"current,omitempty"`
}

// Bounds of a display list.
const (
	MaxDisplays    = 8
	MaxDisplaySide = 16384
	MaxDisplayRole = 32
)

// Check reports whether the list is within bounds.
func (d Displays) Check() error {
	if len(d.Displays) > MaxDisplays {
		return fmt.Errorf("%w: %d displays", ErrBadMessage, len(d.Displays))
	}
	for _, x := range d.Displays {
		if x.Index < 0 || x.Index >= MaxDisplays || x.Width < 0 || x.Height < 0 || x.Width > MaxDisplaySide || x.Height > MaxDisplaySide || len(x.Role) > MaxDisplayRole {
			return fmt.Errorf("%w: display out of bounds", ErrBadMessage)
		}
		if p, bad := safetext.First(x.Role); bad {
			return fmt.Errorf("%w: display role has %s", ErrBadMessage, p)
		}
	}
	return nil
}

// DisplaySelect asks the agent to show another screen.
type DisplaySelect struct {
	Index int `json:"index"`
}

// Check reports whether the index can name a screen.
func (d DisplaySelect) Check() error {
	if d.Index < 0 || d.Index >= MaxDisplays {
		return fmt.Errorf("%w: display %d", ErrBadMessage, d.Index)
	}
	return nil
}
