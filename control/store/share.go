package store

import "time"

// ShareKind says who a share link lets in.
type ShareKind string

// Share kinds.
const (
	// ShareMember lets any enabled member of the organization watch, after signing in.
	ShareMember ShareKind = "member"
	// ShareGuest lets anyone with the link watch under a name they give, for a limited time,
	// while the organization allows guest links (OrgSettings.GuestLinks).
	ShareGuest ShareKind = "guest"
)

// Valid reports whether k is a defined kind.
func (k ShareKind) Valid() bool { return k == ShareMember || k == ShareGuest }

// Share is a link that lets others watch a live console session: each who joins through it
// gets a console session of their own on the same device (ConsoleSession.ShareID), which may
// only watch. Only the hash of the link's token is stored (the directory maps it to the
// organization, LookupShare).
type Share struct {
	ID        string
	OrgID     string
	SessionID string // the shared ("parent") console session
	Kind      ShareKind
	TokenHash string
	CreatedBy string // the principal who created it
	CreatedAt time.Time
	// ExpiresAt is required for guest shares; nil for a member share, which lasts as long as
	// its parent session.
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// Live reports whether the share still admits viewers at now: not revoked, not expired. The
// parent session's own state is the caller's to check.
func (s Share) Live(now time.Time) bool {
	return s.RevokedAt == nil && (s.ExpiresAt == nil || now.Before(*s.ExpiresAt))
}
