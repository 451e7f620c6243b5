package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Tokens is the answer of login and refresh.
type Tokens struct {
	TokenType        string    `json:"token_type"`
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	// MFAEnrollmentRequired: the organization requires MFA and this user has none; the
	// session can only enroll it (kvmctl mfa enable).
	MFAEnrollmentRequired bool `json:"mfa_enrollment_required"`
	// DeviceToken vouches for this client at its next logins (Settings.DeviceToken).
	DeviceToken string `json:"device_token,omitempty"`
}

// LoginRequest is a password login; TOTP or RecoveryCode when the server asked for a second
// factor (mfa-required).
type LoginRequest struct {
	Org          string `json:"org"`
	Email        string `json:"email"`
	Password     string `json:"password"`
	TOTP         string `json:"totp,omitempty"`
	RecoveryCode string `json:"recovery_code,omitempty"`
	// DeviceToken is filled in by Login from the settings when they are of the same server
	// and email.
	DeviceToken string `json:"device_token,omitempty"`
}

// Me is the principal the credentials stand for.
type Me struct {
	OrgID   string            `json:"org_id"`
	OrgSlug string            `json:"org_slug"`
	Kind    string            `json:"kind"` // user, api-key, …
	ID      string            `json:"id"`
	Email   string            `json:"email,omitempty"`
	Role    string            `json:"role"`
	Scope   map[string]string `json:"scope,omitempty"`
	// MFAEnabled: a user with TOTP on. MFAEnrollmentRequired as in Tokens.
	MFAEnabled            bool `json:"mfa_enabled"`
	MFAEnrollmentRequired bool `json:"mfa_enrollment_required"`
}

// Device is an enrolled (or to-be-enrolled) machine. AgentVersion and Capabilities come from
// the agent: hostile text, to be passed through Sanitize before it reaches a terminal.
type Device struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Labels       map[string]string `json:"labels"`
	CreatedAt    time.Time         `json:"created_at"`
	RevokedAt    *time.Time        `json:"revoked_at,omitempty"`
	LastSeen     *time.Time        `json:"last_seen,omitempty"`
	Online       bool              `json:"online"`
	AgentVersion string            `json:"agent_version"`
	Capabilities Text              `json:"capabilities"`
	// Kind is DeviceAgent or DeviceGateway (a kvmagent serving Intel AMT machines, with no
	// screen of its own); empty from servers that predate gateways.
	Kind string `json:"kind,omitempty"`
	// Gateway, GatewayName and AMTGUID describe a device a gateway serves: the gateway's id
	// and name, and the machine's AMT GUID. Server text: Sanitize before printing.
	Gateway     string `json:"gateway,omitempty"`
	GatewayName string `json:"gateway_name,omitempty"`
	AMTGUID     string `json:"amt_guid,omitempty"`
	// AMTTags, for a gateway, are the MPS tags of the machines it adopts: each machine it
	// reports that carries one of them gets its device (labelled mps-tag). Server text:
	// Sanitize before printing.
	AMTTags []string `json:"amt_tags,omitempty"`
}

// Device kinds.
const (
	DeviceAgent   = "agent"
	DeviceGateway = "gateway"
)

// NewDevice is a device to create: an agent (the default), a gateway (Kind DeviceGateway),
// or, with AMT, an Intel AMT machine a gateway serves.
type NewDevice struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind,omitempty"`
	AMT    *AMT              `json:"amt,omitempty"`
	// AMTTags, for a gateway only, are the MPS tags of the machines it adopts.
	AMTTags []string `json:"amt_tags,omitempty"`
}

// DeviceChange is what UpdateDeviceWith changes; a nil field is left as it is.
type DeviceChange struct {
	Name *string
	// Labels, when not nil, replace the device's labels (empty: none).
	Labels map[string]string
	// AMTTags, when not nil, replace a gateway's MPS tags (empty: none); the server refuses
	// them for any other device.
	AMTTags []string
}

// AMT names the gateway that serves a device (its id or name) and the machine's AMT GUID.
type AMT struct {
	Gateway string `json:"gateway"`
	GUID    string `json:"guid"`
}

// EnrollmentToken is a one-time token an agent enrolls with.
type EnrollmentToken struct {
	Token     string    `json:"token"`
	DeviceID  string    `json:"device_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Session states (desired and current).
const (
	StateIdle      = "IDLE"
	StateRequested = "REQUESTED"
	StateActive    = "ACTIVE"
	StateStopped   = "STOPPED"
	StateError     = "ERROR"
)

// Session is a console session of a device.
type Session struct {
	ID        string `json:"id"`
	DeviceID  string `json:"device_id"`
	Principal Text   `json:"principal"`
	// PrincipalName is who holds the session as people know them (email, API key name);
	// relays before it was added leave it empty.
	PrincipalName Text       `json:"principal_name,omitempty"`
	Desired       string     `json:"desired"`
	Current       string     `json:"current"`
	Reason        string     `json:"reason,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	ExpiresAt     time.Time  `json:"expires_at"`
	LastActivity  *time.Time `json:"last_activity,omitempty"`
	// ConsoleConnected, for ACTIVE sessions, says whether the console is connected now (false:
	// it went away without Disconnect and the session waits out the reconnect grace); nil when
	// the relay does not say.
	ConsoleConnected *bool `json:"console_connected,omitempty"`
	// Grant is what the console may do (view, control, admin) as it started; ShareID the share
	// link it joined through. Relays before share links leave both empty.
	Grant   string `json:"grant,omitempty"`
	ShareID string `json:"share_id,omitempty"`
}

// ConsoleStart is the answer of starting a console: the session and the URL that opens it.
type ConsoleStart struct {
	Session             Session   `json:"session"`
	ConsoleURL          string    `json:"console_url"`
	ConsoleURLExpiresAt time.Time `json:"console_url_expires_at"`
	// Grant is what the console may do on the machine (view, control, admin); relays before
	// shared sessions leave it empty.
	Grant string `json:"grant,omitempty"`
}

// User is a member of the organization.
type User struct {
	ID        string            `json:"id"`
	Email     string            `json:"email"`
	Role      string            `json:"role"`
	Disabled  bool              `json:"disabled"`
	MFA       bool              `json:"mfa"`
	Scope     map[string]string `json:"scope,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Invite is an invitation to send.
type Invite struct {
	Email string            `json:"email"`
	Role  string            `json:"role"`
	Scope map[string]string `json:"scope"`
}

// Invitation is the answer of inviting: Link is empty when the server mailed it.
type Invitation struct {
	Invitation struct {
		ID        string    `json:"id"`
		Email     string    `json:"email"`
		Role      string    `json:"role"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"invitation"`
	Link string `json:"link"`
}

// APIKey describes an API key (never its secret).
type APIKey struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Prefix    string            `json:"prefix"`
	Role      string            `json:"role"`
	Scope     map[string]string `json:"scope,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	RevokedAt *time.Time        `json:"revoked_at,omitempty"`
}

// NewAPIKey is an API key to create.
type NewAPIKey struct {
	Name  string            `json:"name"`
	Role  string            `json:"role"`
	Scope map[string]string `json:"scope"`
}

// CreatedAPIKey is the answer of creating an API key: Key is the secret, shown this once.
type CreatedAPIKey struct {
	Key    string `json:"key"`
	APIKey APIKey `json:"api_key"`
}

// AuditEntry is one row of the organization's audit chain. Raw is the entry exactly as the
// server sent it (exports write it unchanged).
type AuditEntry struct {
	Seq   int64     `json:"seq"`
	Time  time.Time `json:"time"`
	Actor Text      `json:"actor"`
	// ActorName is who the actor was (email, API key name, agent); empty from older servers
	// and for the system.
	ActorName Text            `json:"actor_name,omitempty"`
	Action    string          `json:"action"`
	Target    Text            `json:"target"`
	Details   json.RawMessage `json:"details,omitempty"`
	Hash      string          `json:"hash"`
	PrevHash  string          `json:"prev_hash"`
	Raw       json.RawMessage `json:"-"`
}

// AuditPage is one page of the audit chain; NextAfter is the after= of the next page.
type AuditPage struct {
	Entries   []AuditEntry
	NextAfter int64
}

// AuditVerification is the server's walk of the chain.
type AuditVerification struct {
	OK        bool   `json:"ok"`
	Entries   int64  `json:"entries,omitempty"`
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// HeadSeq and HeadHash name the chain's newest entry (servers before witnesses: zero).
	HeadSeq  int64  `json:"head_seq,omitempty"`
	HeadHash string `json:"head_hash,omitempty"`
	// Witness is the server's word on the witness passed: "none", "ok" or WitnessMissing.
	Witness string `json:"witness,omitempty"`
}

// WitnessMissing is AuditVerification.Witness when the chain no longer holds the entry the
// reader saw earlier: it was shortened or rewritten from there.
const WitnessMissing = "missing"

// Err is nil for an intact chain and a *ChainBrokenError naming the first broken row otherwise.
func (v AuditVerification) Err() error {
	if v.OK {
		return nil
	}
	return &ChainBrokenError{Seq: v.BrokenSeq, Reason: v.Reason}
}

// Text is a field the API documents by name only (a principal, an actor, a target, agent
// capabilities). It keeps the JSON value as the server sent it; String gives a JSON string's
// content or any other value's compact JSON text.
type Text struct {
	raw json.RawMessage
}

// TextOf is the Text of the JSON string s.
func TextOf(s string) Text {
	b, _ := json.Marshal(s) // a string always marshals
	return Text{raw: b}
}

// String is the text to show (still to be passed through Sanitize before a terminal).
func (t Text) String() string {
	if len(t.raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(t.raw, &s); err == nil {
		return s
	}
	return string(t.raw)
}

// MarshalJSON writes the value as it was received (null when there was none).
func (t Text) MarshalJSON() ([]byte, error) {
	if len(t.raw) == 0 {
		return []byte("null"), nil
	}
	return t.raw, nil
}

// UnmarshalJSON accepts any JSON value.
func (t *Text) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		t.raw = nil
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("client: text field: %w", err)
	}
	t.raw = buf.Bytes()
	return nil
}
