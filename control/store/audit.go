package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditAction names what happened.
type AuditAction string

// The audited actions.
const (
	AuditLogin          AuditAction = "login"
	AuditLoginFailed    AuditAction = "login_failed"
	AuditMFAChange      AuditAction = "mfa_change"
	AuditInvite         AuditAction = "invite"
	AuditRoleChange     AuditAction = "role_change"
	AuditAPIKeyCreate   AuditAction = "api_key_create"
	AuditAPIKeyRevoke   AuditAction = "api_key_revoke"
	AuditDeviceCreate   AuditAction = "device_create"
	AuditDeviceEnroll   AuditAction = "device_enroll"
	AuditDeviceRevoke   AuditAction = "device_revoke"
	AuditConsoleStart   AuditAction = "console_start"
	AuditConsoleStop    AuditAction = "console_stop"
	AuditConsoleTimeout AuditAction = "console_timeout"
	// AuditConsoleConsent is a step of a machine's user consent (Intel AMT): asked, a code
	// entered (right or wrong, never the code itself), cancelled, expired.
	AuditConsoleConsent AuditAction = "console_consent"
	// AuditPowerAction is a machine's power switched from a console (Intel AMT): on, off,
	// reset, cycle.
	AuditPowerAction    AuditAction = "power_action"
	AuditSettingsChange AuditAction = "settings_change"
	AuditAccessDenied   AuditAction = "access_denied"   // a peer addressed a session or device it does not hold
	AuditPasswordChange AuditAction = "password_change" // a user changed their own password
	AuditPasswordReset  AuditAction = "password_reset"  // a reset link issued by an admin, or used
	AuditUserDisable    AuditAction = "user_disable"
	AuditUserEnable     AuditAction = "user_enable"
	// AuditDeviceUpdate is a device renamed or relabelled (labels decide who may reach it):
	// details carry the values before and after.
	AuditDeviceUpdate AuditAction = "device_update"
	AuditDeviceDelete AuditAction = "device_delete" // a revoked device removed; its entries stay
	// AuditEnrollmentToken is an enrollment token issued for a device (not the device's creation).
	AuditEnrollmentToken AuditAction = "enrollment_token_issue"
	// AuditInviteAccept is an invitation accepted: the invitee is the actor, the invitation and
	// its inviter are in the details.
	AuditInviteAccept AuditAction = "invite_accept"
	// AuditConsoleJoin and AuditConsoleLeave are one console connection of a session joining
	// and leaving its machine (with its grant, and why it left). A session (console_start …
	// console_stop) may join and leave many times: each reconnect is one.
	AuditConsoleJoin  AuditAction = "console_join"
	AuditConsoleLeave AuditAction = "console_leave"
	// AuditConsoleControl is a move of control of a shared console (requested, granted,
	// declined, passed, released, taken, timed out, regranted), as the machine's agent decided
	// it; the principals are the relay's, never names the agent sent.
	AuditConsoleControl AuditAction = "console_control"
	// AuditConsoleInput attributes a stretch of input to the session that held control: how
	// many key and pointer events, and their digest — never the keys themselves.
	AuditConsoleInput AuditAction = "console_input"
	// AuditShareCreate, AuditShareRevoke and AuditShareJoin are a share link of a console
	// session created (its kind, the shared session, its expiry), revoked, and used: who
	// joined (a member, or a guest under the name they gave) and the session it got.
	AuditShareCreate AuditAction = "share_create"
	AuditShareRevoke AuditAction = "share_revoke"
	AuditShareJoin   AuditAction = "share_join"
	// AuditRecordingStart and AuditRecordingEnd open and close a recording of a console
	// session; the end carries both files' SHA-256, sizes and duration, which is what
	// `kvmctl recordings verify` checks the files against. AuditRecordingFail is a recording
	// that could not be written, AuditRecordingExpire one retention removed.
	AuditRecordingStart  AuditAction = "recording_start"
	AuditRecordingEnd    AuditAction = "recording_end"
	AuditRecordingFail   AuditAction = "recording_fail"
	AuditRecordingExpire AuditAction = "recording_expire"
	// AuditRecordingView and AuditRecordingExport are someone fetching a recording's video
	// to watch it or to download it; AuditRecordingVerify a check of its files.
	AuditRecordingView   AuditAction = "recording_view"
	AuditRecordingExport AuditAction = "recording_export"
	AuditRecordingVerify AuditAction = "recording_verify"
)

// AuditRecord is what a caller audits.
type AuditRecord struct {
	Time  time.Time // kept to the microsecond, UTC
	Actor string    // "user:<id>", "apikey:<id>", "device:<id>", "system"
	// ActorName says who Actor was when it acted, for people reading the log: an email,
	// "API key <name>", "agent <device name>". Tx.AppendAudit fills it in from the
	// organization's own records when it is empty and Actor names a user, API key or device,
	// so every writer gets it without passing it; callers set it only for actors the store
	// does not hold (OIDC subjects). It is part of the hashed body.
	ActorName string
	Action    AuditAction
	Target    string
	Details   map[string]string
}

// AuditEntry is one stored link of an organization's chain. Body is the canonical JSON exactly
// as stored and hashed; Record is decoded from it.
type AuditEntry struct {
	OrgID    string
	Seq      int64
	PrevHash string // hex; GenesisHash for seq 1
	Hash     string // hex(SHA-256(prev hash bytes || Body))
	Body     string
	Record   AuditRecord
}

// GenesisHash is the prev_hash of every chain's first entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// auditBody is the canonical form: a struct, so encoding/json writes fields in this order and
// Details (a map) with sorted keys. What gets hashed is the stored text, not a re-encoding, so
// the form only has to be stable per entry; it carries org and seq so a row moved between
// positions or tenants does not verify.
//
// Versions: 1 has no actor_name; 2 (every entry written since) may carry it. A new field goes
// into the body rather than a column of its own, so it is covered by the hash like the rest,
// and rows written before it verify unchanged: their stored text is what was hashed. A v1 body
// that carries actor_name, or a version this relay does not know, is refused.
type auditBody struct {
	V         int               `json:"v"`
	Org       string            `json:"org"`
	Seq       int64             `json:"seq"`
	Time      string            `json:"time"`
	Actor     string            `json:"actor"`
	ActorName string            `json:"actor_name,omitempty"`
	Action    AuditAction       `json:"action"`
	Target    string            `json:"target"`
	Details   map[string]string `json:"details,omitempty"`
}

// Audit body versions.
const (
	auditBodyV1 = 1 // before actor names
	auditBodyV2 = 2 // actor_name
)

// EncodeAudit returns the canonical body of rec at position seq of org's chain.
func EncodeAudit(orgID string, seq int64, rec AuditRecord) (string, error) {
	if rec.Action == "" {
		return "", fmt.Errorf("audit: empty action: %w", ErrInvalid)
	}
	b, err := json.Marshal(auditBody{
		V:         auditBodyV2,
		Org:       orgID,
		Seq:       seq,
		Time:      rec.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
		Actor:     rec.Actor,
		ActorName: rec.ActorName,
		Action:    rec.Action,
		Target:    rec.Target,
		Details:   rec.Details,
	})
	if err != nil {
		return "", fmt.Errorf("audit: encode: %w", err)
	}
	return string(b), nil
}

// decodeAudit parses a stored body.
func decodeAudit(body string) (auditBody, AuditRecord, error) {
	var ab auditBody
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ab); err != nil {
		return ab, AuditRecord{}, fmt.Errorf("audit: decode body: %w", err)
	}
	switch {
	case ab.V == auditBodyV1 && ab.ActorName != "":
		return ab, AuditRecord{}, fmt.Errorf("audit: a v%d body carries no actor_name", auditBodyV1)
	case ab.V != auditBodyV1 && ab.V != auditBodyV2:
		return ab, AuditRecord{}, fmt.Errorf("audit: body version %d is unknown to this relay (written by a newer one?)", ab.V)
	}
	t, err := time.Parse(time.RFC3339Nano, ab.Time)
	if err != nil {
		return ab, AuditRecord{}, fmt.Errorf("audit: decode time: %w", err)
	}
	return ab, AuditRecord{Time: t, Actor: ab.Actor, ActorName: ab.ActorName, Action: ab.Action, Target: ab.Target, Details: ab.Details}, nil
}

// ChainHash is hex(SHA-256(prev hash bytes || body)).
func ChainHash(prevHash, body string) (string, error) {
	prev, err := hex.DecodeString(prevHash)
	if err != nil || len(prev) != sha256.Size {
		return "", fmt.Errorf("audit: prev hash %q is not %d hex bytes: %w", prevHash, sha256.Size, ErrInvalid)
	}
	h := sha256.New()
	h.Write(prev)
	h.Write([]byte(body))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// NewAuditEntry builds the entry that follows prev (nil for the first) in org's chain.
func NewAuditEntry(orgID string, prev *AuditEntry, rec AuditRecord) (AuditEntry, error) {
	seq, prevHash := int64(1), GenesisHash
	if prev != nil {
		seq, prevHash = prev.Seq+1, prev.Hash
	}
	rec.Time = rec.Time.UTC().Truncate(time.Microsecond)
	body, err := EncodeAudit(orgID, seq, rec)
	if err != nil {
		return AuditEntry{}, err
	}
	hash, err := ChainHash(prevHash, body)
	if err != nil {
		return AuditEntry{}, err
	}
	return AuditEntry{OrgID: orgID, Seq: seq, PrevHash: prevHash, Hash: hash, Body: body, Record: rec}, nil
}

// DecodeAuditEntry fills e.Record from e.Body.
func DecodeAuditEntry(e *AuditEntry) error {
	_, rec, err := decodeAudit(e.Body)
	if err != nil {
		return fmt.Errorf("audit seq %d: %w", e.Seq, err)
	}
	e.Record = rec
	return nil
}
