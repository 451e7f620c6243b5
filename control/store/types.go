package store

import "time"

// Role is what a user or API key may do within its organization.
type Role string

// Roles, from most to least privileged; auditor reads the audit log only.
const (
	RoleOwner    Role = "owner"
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator" // may control consoles
	RoleViewer   Role = "viewer"   // view only
	RoleAuditor  Role = "auditor"
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleOperator, RoleViewer, RoleAuditor:
		return true
	}
	return false
}

// OrgSettings are an organization's console and sign-in policies.
type OrgSettings struct {
	IdleTimeout        time.Duration // whole seconds are stored
	MaxSessionDuration time.Duration // whole seconds are stored
	// RequireMFA makes members without a second factor sign in to a session that can only
	// enroll one.
	RequireMFA bool
	// GuestLinks lets console participants create time-limited, view-only share links for
	// people without an account (Share of kind ShareGuest). Off by default; turning it off
	// ends the guests' consoles.
	GuestLinks bool
	// Recording is the organization's recording policy; "" reads as RecordingOff.
	Recording RecordingPolicy
	// RecordingKeys puts the keys typed into recordings' timelines (full keystroke
	// capture). Off by default; its change is audited on its own.
	RecordingKeys bool
	// RecordingRetentionDays is how long recordings are kept, 1 to 3650 days; 0 reads as
	// DefaultRecordingRetentionDays.
	RecordingRetentionDays int
}

// Organization is a tenant.
type Organization struct {
	ID   string
	Name string
	// Slug names the organization at login and in URLs: unique across the deployment,
	// lower-case letters, digits and dashes, 1 to 63 characters.
	Slug      string
	Settings  OrgSettings
	CreatedAt time.Time
}

// User is a person who logs in to one organization. Emails are stored as given; callers
// normalize them.
type User struct {
	ID           string
	OrgID        string
	Email        string
	PasswordHash string
	Role         Role
	Disabled     bool
	TOTPSecret   string // base32 TOTP secret; MFA is on only once TOTPConfirmed
	// TOTPConfirmed is set once the user proved the authenticator works.
	TOTPConfirmed bool
	// TOTPLastStep is the last accepted TOTP time step, so a code is never accepted twice.
	TOTPLastStep int64
	// FailedLogins counts consecutive failed logins (RecordLoginFailure, ResetLoginFailures);
	// UpdateUser leaves it and LastFailedAt alone.
	FailedLogins int
	LastFailedAt *time.Time
	// Scope restricts the user to devices whose labels include every pair; empty means all.
	Scope map[string]string
	// TokensValidAfter, when set, refuses access tokens issued before it: a password change
	// or reset, or disabling the user, ends every session at once.
	TokensValidAfter *time.Time
	CreatedAt        time.Time
}

// Invitation lets someone join an organization once, with a role; only the token's hash is
// stored.
type Invitation struct {
	ID         string
	OrgID      string
	Email      string
	Role       Role
	Scope      map[string]string
	TokenHash  string
	InvitedBy  string // the principal who invited
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt *time.Time
}

// DeviceKind says what a device row stands for.
type DeviceKind string

// Device kinds.
const (
	// DeviceAgent is a machine with a screen: reached through its own kvmagent, or, when
	// Device.GatewayID is set, through a gateway's. The default.
	DeviceAgent DeviceKind = "agent"
	// DeviceGateway is a kvmagent that serves other devices (Intel AMT machines behind one
	// MPS) and has no screen of its own. It enrolls like any agent.
	DeviceGateway DeviceKind = "gateway"
)

// Valid reports whether k is a defined kind.
func (k DeviceKind) Valid() bool { return k == DeviceAgent || k == DeviceGateway }

// Device is a machine reachable through an agent.
type Device struct {
	ID        string
	OrgID     string
	Name      string
	Labels    map[string]string
	CreatedAt time.Time
	RevokedAt *time.Time
	LastSeen  *time.Time
	// AgentVersion and Capabilities are reported by the agent: hostile text, stored verbatim,
	// never interpreted by the store and escaped by whoever renders them. For a served device
	// LastSeen is when its gateway last reported its link up or down (Tx.SetTargetLinks).
	AgentVersion string
	Capabilities string
	// Kind is DeviceAgent (CreateDevice's default when empty) or DeviceGateway.
	Kind DeviceKind
	// GatewayID, for a served device, is the gateway (a device of the same organization, of
	// kind DeviceGateway) whose agent reaches it; Target is its address there (an AMT GUID,
	// canonical lower case). Both empty for every other device; both set at creation and
	// never changed. (organization, GatewayID, Target) is unique.
	GatewayID string
	Target    string
	// LinkUp, for a served device, is whether its gateway last reported its management link
	// (AMT's CIRA connection to MPS) up; it is online while that holds and its gateway is.
	LinkUp bool
	// AMTTags, for a gateway only, are the MPS tags whose machines the gateway's reports
	// create rows for (device.Service.Adopt): an admin's list, validated and deduplicated by
	// the caller, kept in its order. Nil for every other device, and for a gateway without
	// tags (stored as NULL either way).
	AMTTags []string
}

// Served reports whether d is reached through a gateway's agent rather than its own.
func (d Device) Served() bool { return d.GatewayID != "" }

// EnrollmentToken lets one agent enroll once as DeviceID. Only the hash is stored.
type EnrollmentToken struct {
	Hash      string
	OrgID     string
	DeviceID  string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// RefreshToken is one member of a rotation family; only the hash is stored.
type RefreshToken struct {
	Hash      string
	OrgID     string
	FamilyID  string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	RotatedAt *time.Time
	RevokedAt *time.Time
}

// APIKey is a long-lived credential: Prefix is public and indexes it, Hash is of the secret.
type APIKey struct {
	ID        string
	OrgID     string
	Prefix    string
	Hash      string
	Name      string
	Role      Role
	Scope     map[string]string // device label selector, as User.Scope
	CreatedAt time.Time
	RevokedAt *time.Time
}

// LookupKind names a kind of public identifier the directory resolves to its organization.
type LookupKind string

// Directory kinds. Create methods register their keys; Store.Lookup resolves them.
const (
	LookupOrgSlug    LookupKind = "org"     // Organization.Slug
	LookupDevice     LookupKind = "device"  // Device.ID
	LookupAPIKey     LookupKind = "apikey"  // APIKey.Prefix
	LookupEnrollment LookupKind = "enroll"  // EnrollmentToken.Hash
	LookupRefresh    LookupKind = "refresh" // RefreshToken.Hash
	LookupInvite     LookupKind = "invite"  // Invitation.TokenHash
	LookupReset      LookupKind = "reset"   // PasswordReset.TokenHash
	LookupShare      LookupKind = "share"   // Share.TokenHash
)

// SpendKind names a kind of single-use value recorded by Tx.Spend.
type SpendKind string

// The single-use values.
const (
	SpendConsoleLink SpendKind = "console_link" // a one-time console link's id
	SpendProofNonce  SpendKind = "proof_nonce"  // an agent's proof-of-key nonce
)

// PasswordReset lets one user set a new password once; only the token's hash is stored.
type PasswordReset struct {
	TokenHash string
	OrgID     string
	UserID    string
	CreatedBy string // the principal who issued it
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}
