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

// OrgSettings are an organization's console policies.
type OrgSettings struct {
	IdleTimeout        time.Duration // whole seconds are stored
	MaxSessionDuration time.Duration // whole seconds are stored
}

// Organization is a tenant.
type Organization struct {
	ID        string
	Name      string
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
	TOTPSecret   string // placeholder until MFA lands; stored as given
	CreatedAt    time.Time
}

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
	// never interpreted by the store and escaped by whoever renders them.
	AgentVersion string
	Capabilities string
}

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
	CreatedAt time.Time
	RevokedAt *time.Time
}
