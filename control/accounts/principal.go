package accounts

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Principal kinds.
const (
	KindUser   = "user"
	KindAPIKey = "apikey"
	KindOIDC   = "oidc"
	// KindRelay is whoever holds the relay's data directory (its signing key), as in sessions
	// that `kvmrelay token console` starts: "relay:<name>". Nothing in the control plane
	// grants or removes that, so its rights are not re-derived (ErrNotStored).
	KindRelay = "relay"
	// KindGuest is someone without an account watching a console through a guest share link:
	// "guest:<share id>". A guest has no rights of their own; the share link is all they hold
	// (control/sessions decides for sessions joined through a share), so Current refuses it.
	KindGuest = "guest"
)

// Principal is who is making a request, as Authenticate established it.
type Principal struct {
	OrgID string
	Kind  string // KindUser, KindAPIKey or KindOIDC
	ID    string // the user id, API key id or OIDC subject
	Email string // users and OIDC; may be empty
	Role  store.Role
	Scope map[string]string // device label selector; empty means every device
	// MFAEnrollmentRequired marks a user whose organization requires a second factor they
	// have not set up: the session may only enroll one (see RequireMFA). Decided on every
	// request, so it lifts the moment TOTP is confirmed and applies the moment an owner turns
	// the requirement on. API keys and OIDC principals never carry it (see RequireMFA).
	MFAEnrollmentRequired bool
	// MFAEnabled says a user has a confirmed TOTP (false for API keys and OIDC principals).
	MFAEnabled bool
}

// String is the principal as the audit log and console sessions name it: "user:<id>",
// "apikey:<id>" or "oidc:<subject>".
func (p Principal) String() string { return p.Kind + ":" + p.ID }

// Action is something a role may or may not do.
type Action int

// The actions the role matrix decides.
const (
	ManageOrg      Action = iota + 1 // organization settings
	ManageUsers                      // invite, change roles
	ManageDevices                    // create, label, revoke devices; enrollment tokens
	ManageAPIKeys                    // create and revoke API keys
	ConsoleControl                   // type and click on a console
	ConsoleView                      // watch a console
	ReadAudit                        // list and verify the audit chain
	ReadDevices                      // list devices and their presence
	// ConsoleTake takes control of a shared console from whoever holds it, without asking.
	ConsoleTake
	// ReadRecordings lists, plays, exports and verifies the organization's session
	// recordings: auditor, admin and owner.
	ReadRecordings
)

func (a Action) String() string {
	switch a {
	case ManageOrg:
		return "manage_org"
	case ManageUsers:
		return "manage_users"
	case ManageDevices:
		return "manage_devices"
	case ManageAPIKeys:
		return "manage_api_keys"
	case ConsoleControl:
		return "console_control"
	case ConsoleView:
		return "console_view"
	case ReadAudit:
		return "read_audit"
	case ReadDevices:
		return "read_devices"
	case ConsoleTake:
		return "console_take"
	case ReadRecordings:
		return "read_recordings"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

func bit(a Action) uint32 { return 1 << uint(a) }

// permissions is the role matrix: owner ⊇ admin ⊇ operator ⊇ viewer; the auditor reads the
// audit log and the recordings, nothing else. An unknown role may do nothing. On a shared console a viewer
// watches, an operator may hold control, an admin may also take it (Principal.GrantOn).
func permissions(r store.Role) uint32 {
	viewer := bit(ConsoleView) | bit(ReadDevices)
	operator := viewer | bit(ConsoleControl)
	admin := operator | bit(ManageUsers) | bit(ManageDevices) | bit(ManageAPIKeys) | bit(ReadAudit) | bit(ConsoleTake) | bit(ReadRecordings)
	switch r {
	case store.RoleOwner:
		return admin | bit(ManageOrg)
	case store.RoleAdmin:
		return admin
	case store.RoleOperator:
		return operator
	case store.RoleViewer:
		return viewer
	case store.RoleAuditor:
		return bit(ReadAudit) | bit(ReadRecordings)
	}
	return 0
}

// lastAction is the highest Action: a new action is added after it and becomes it.
const lastAction = ReadRecordings

// Actions lists every action of the role matrix, in order (the dashboard's copy of the matrix
// is checked against it).
func Actions() []Action {
	out := make([]Action, 0, lastAction)
	for a := ManageOrg; a <= lastAction; a++ {
		out = append(out, a)
	}
	return out
}

// Can reports whether p's role allows action.
func (p Principal) Can(action Action) bool {
	return action >= ManageOrg && action <= lastAction && permissions(p.Role)&bit(action) != 0
}

// RoleWithin reports whether role grants nothing that max does not: who holds max may hand
// out role (to an invitee, an API key, another user).
func RoleWithin(role, max store.Role) bool {
	return role.Valid() && max.Valid() && permissions(role)&^permissions(max) == 0
}

// SeesDevice reports whether a device with these labels is within p's scope: every label of
// the scope is on the device with the same value. An empty scope sees every device.
func (p Principal) SeesDevice(labels map[string]string) bool {
	return ScopeWithin(labels, p.Scope)
}

// ScopeWithin reports whether inner selects no more than outer: every pair of outer is in
// inner. A scope handed out by a scoped principal must be within the principal's own.
func ScopeWithin(inner, outer map[string]string) bool {
	for k, v := range outer {
		if got, ok := inner[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// roleRank orders roles for choosing the strongest of several (OIDC role claims); the
// auditor ranks lowest, it grants the least.
func roleRank(r store.Role) int {
	switch r {
	case store.RoleOwner:
		return 5
	case store.RoleAdmin:
		return 4
	case store.RoleOperator:
		return 3
	case store.RoleViewer:
		return 2
	case store.RoleAuditor:
		return 1
	}
	return 0
}

// nonEmpty returns nil for an empty scope, so "no scope" has one form.
func nonEmpty(scope map[string]string) map[string]string {
	if len(scope) == 0 {
		return nil
	}
	return scope
}
