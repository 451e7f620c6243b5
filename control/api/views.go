package api

import (
	"time"

	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// The JSON shapes of the API; field names are part of the contract (openapi.json).

type deviceView struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Labels       map[string]string `json:"labels"`
	CreatedAt    time.Time         `json:"created_at"`
	RevokedAt    *time.Time        `json:"revoked_at,omitempty"`
	LastSeen     *time.Time        `json:"last_seen,omitempty"`
	Online       bool              `json:"online"`
	AgentVersion string            `json:"agent_version"`
	Capabilities string            `json:"capabilities"`
	// Kind is "agent" or "gateway" (a kvmagent serving Intel AMT machines, no screen).
	Kind store.DeviceKind `json:"kind"`
	// Gateway, GatewayName and AMTGUID are set for a device a gateway serves: the gateway's
	// id and name, and the machine's AMT GUID.
	Gateway     string `json:"gateway,omitempty"`
	GatewayName string `json:"gateway_name,omitempty"`
	AMTGUID     string `json:"amt_guid,omitempty"`
	// AMTTags, for a gateway and only for one (then always, [] for none), are the MPS tags of
	// the machines it adopts.
	AMTTags *[]string `json:"amt_tags,omitempty"`
}

func (a *API) device(d device.Device) deviceView {
	labels := d.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	kind := d.Kind
	if kind == "" {
		kind = store.DeviceAgent
	}
	online, lastSeen := d.Presence(a.now())
	v := deviceView{ID: d.ID, Name: d.Name, Labels: labels, CreatedAt: d.CreatedAt, RevokedAt: d.RevokedAt,
		LastSeen: lastSeen, Online: online, AgentVersion: d.AgentVersion, Capabilities: d.Capabilities,
		Kind: kind, Gateway: d.GatewayID, GatewayName: d.GatewayName, AMTGUID: d.Target}
	if kind == store.DeviceGateway {
		tags := d.AMTTags
		if tags == nil {
			tags = []string{}
		}
		v.AMTTags = &tags
	}
	return v
}

type sessionView struct {
	ID           string             `json:"id"`
	DeviceID     string             `json:"device_id"`
	Principal    string             `json:"principal"`
	Desired      store.SessionState `json:"desired"`
	Current      store.SessionState `json:"current"`
	Reason       string             `json:"reason"`
	CreatedAt    time.Time          `json:"created_at"`
	UpdatedAt    time.Time          `json:"updated_at"`
	StartedAt    *time.Time         `json:"started_at,omitempty"`
	EndedAt      *time.Time         `json:"ended_at,omitempty"`
	ExpiresAt    time.Time          `json:"expires_at"`
	LastActivity *time.Time         `json:"last_activity,omitempty"`
	// ConsentExpiresAt is when the consent window of a CONSENT_REQUIRED session closes.
	ConsentExpiresAt *time.Time `json:"consent_expires_at,omitempty"`
	// PrincipalName and DeviceName are what people recognize (email, API key name, device
	// name); set where the handler resolved them (names.go).
	PrincipalName string `json:"principal_name,omitempty"`
	DeviceName    string `json:"device_name,omitempty"`
	// ConsoleConnected, for ACTIVE sessions, says whether the console is connected now (false:
	// it went away without Disconnect and the session waits out the reconnect grace).
	ConsoleConnected *bool `json:"console_connected,omitempty"`
	// Grant is what the console may do (view, control, admin) as last derived (at start, when
	// its console connected, at its session checks); absent for sessions from before grants
	// were stored.
	Grant string `json:"grant,omitempty"`
	// ShareID is the share link the session joined through (it then only watches).
	ShareID string `json:"share_id,omitempty"`
}

func session(s store.ConsoleSession) sessionView {
	return sessionView{ID: s.ID, DeviceID: s.DeviceID, Principal: s.Principal, Desired: s.Desired, Current: s.Current,
		Reason: s.Reason, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, StartedAt: s.StartedAt, EndedAt: s.EndedAt,
		ExpiresAt: s.ExpiresAt, LastActivity: s.LastActivity, ConsentExpiresAt: s.ConsentExpiresAt, Grant: s.Grant, ShareID: s.ShareID}
}

type userView struct {
	ID        string            `json:"id"`
	Email     string            `json:"email"`
	Role      store.Role        `json:"role"`
	Disabled  bool              `json:"disabled"`
	MFA       bool              `json:"mfa"`
	Scope     map[string]string `json:"scope"`
	CreatedAt time.Time         `json:"created_at"`
}

func user(u store.User) userView {
	scope := u.Scope
	if scope == nil {
		scope = map[string]string{}
	}
	return userView{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, MFA: u.TOTPConfirmed, Scope: scope, CreatedAt: u.CreatedAt}
}

type apiKeyView struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Prefix    string            `json:"prefix"`
	Role      store.Role        `json:"role"`
	Scope     map[string]string `json:"scope"`
	CreatedAt time.Time         `json:"created_at"`
	RevokedAt *time.Time        `json:"revoked_at,omitempty"`
}

func apiKey(k store.APIKey) apiKeyView {
	scope := k.Scope
	if scope == nil {
		scope = map[string]string{}
	}
	return apiKeyView{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Role: k.Role, Scope: scope, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}

type auditView struct {
	Seq   int64     `json:"seq"`
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	// ActorName says who the actor was (email, API key name, agent's device name); empty for
	// the system and for entries written before names were recorded.
	ActorName string            `json:"actor_name"`
	Action    store.AuditAction `json:"action"`
	Target    string            `json:"target"`
	Details   map[string]string `json:"details"`
	Hash      string            `json:"hash"`
	PrevHash  string            `json:"prev_hash"`
}

func audit(e store.AuditEntry) auditView {
	d := e.Record.Details
	if d == nil {
		d = map[string]string{}
	}
	return auditView{Seq: e.Seq, Time: e.Record.Time, Actor: e.Record.Actor, ActorName: e.Record.ActorName, Action: e.Record.Action, Target: e.Record.Target,
		Details: d, Hash: e.Hash, PrevHash: e.PrevHash}
}
