// Package store is kvmrelay's control-plane persistence: organizations (tenants), users, devices,
// enrollment tokens, console sessions, refresh-token families, API keys and the per-tenant audit
// hash chain. One interface, two implementations (store/sqlite, the embedded default, and
// store/postgres), one conformance suite (store/storetest) run against both.
//
// Tenant scoping is explicit: everything tenant-owned is reached through a Tx opened for one
// organization. PostgreSQL enforces the scope with Row-Level Security (the tenant is set inside
// the transaction); SQLite filters every statement by org_id.
package store

import (
	"context"
	"time"
)

// Store is a control-plane database. Implementations are safe for concurrent use.
type Store interface {
	// CreateOrganization stores a new tenant. An empty ID is filled in.
	CreateOrganization(ctx context.Context, org Organization) (Organization, error)

	// Lookup resolves a public identifier (an organization slug, a device id, an API key
	// prefix, a token hash) to the organization that registered it; ErrNotFound when none did.
	// It is the only question answered outside a tenant's scope: the caller then verifies the
	// credential inside Read or Write for that organization.
	Lookup(ctx context.Context, kind LookupKind, key string) (orgID string, err error)
	// OrganizationIDs lists every organization, for background work that visits each tenant.
	OrganizationIDs(ctx context.Context) ([]string, error)

	// Read runs fn in a read-only transaction scoped to orgID.
	Read(ctx context.Context, orgID string, fn func(Tx) error) error
	// Write runs fn in a read-write transaction scoped to orgID. fn's error rolls it back;
	// an error inside the transaction may also abort it, so fn returns errors it meets.
	// fn is not retried.
	Write(ctx context.Context, orgID string, fn func(Tx) error) error

	// AppendAudit appends one entry to orgID's chain in its own transaction. To audit an
	// action atomically with the action, call Tx.AppendAudit inside Write instead.
	AppendAudit(ctx context.Context, orgID string, rec AuditRecord) (AuditEntry, error)
	// VerifyAudit walks orgID's chain from the start. It returns the number of entries, or a
	// *ChainError naming the first broken row.
	VerifyAudit(ctx context.Context, orgID string) (int64, error)
	// VerifyAuditChain is VerifyAudit that also checks the chain against a head the caller
	// recorded earlier (a zero witness checks nothing extra) and against the head the store
	// anchored at the last append, so removing the newest rows is detected too. It returns the
	// chain's head.
	VerifyAuditChain(ctx context.Context, orgID string, witness AuditHead) (AuditHead, error)

	// Close releases the database handles.
	Close() error
}

// Tx is one transaction scoped to one organization. Nothing outside that organization is
// visible through it, and nothing can be written into another organization through it.
type Tx interface {
	OrgID() string

	Organization(ctx context.Context) (Organization, error)
	UpdateSettings(ctx context.Context, s OrgSettings) error

	CreateUser(ctx context.Context, u User) (User, error)
	User(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	Users(ctx context.Context) ([]User, error)
	// UpdateUser writes the mutable fields: email, password hash, role, disabled, TOTP secret,
	// confirmation and last step, scope, tokens valid after.
	UpdateUser(ctx context.Context, u User) error
	// RecordLoginFailure counts one more consecutive failed login and returns the count.
	RecordLoginFailure(ctx context.Context, userID string, at time.Time) (int, error)
	ResetLoginFailures(ctx context.Context, userID string) error
	// ReplaceRecoveryCodes sets the user's MFA recovery codes (hashes), dropping the old ones.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	// UseRecoveryCode marks one unused code used; ErrTokenInvalid when there is none.
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) error

	// RevokeUserRefreshTokens revokes every live refresh token of the user (all families).
	RevokeUserRefreshTokens(ctx context.Context, userID string, at time.Time) error

	// CreatePasswordReset stores a reset for a user of the organization.
	CreatePasswordReset(ctx context.Context, r PasswordReset) error
	// ConsumePasswordReset marks a live reset used and returns it, atomically (single use);
	// ErrTokenInvalid when it is unknown, used or expired, or its user is disabled.
	ConsumePasswordReset(ctx context.Context, hash string, now time.Time) (PasswordReset, error)

	CreateInvitation(ctx context.Context, inv Invitation) (Invitation, error)
	Invitations(ctx context.Context) ([]Invitation, error)
	// AcceptInvitation marks a live invitation accepted and returns it, atomically (single
	// use); ErrTokenInvalid when it is unknown, accepted or expired.
	AcceptInvitation(ctx context.Context, hash string, at time.Time) (Invitation, error)

	// CreateDevice and UpdateDevice return ErrConflict when another device of the
	// organization has the same name ignoring ASCII case (a unique index decides).
	// CreateDevice also returns ErrConflict for a served device whose gateway already serves
	// that target, ErrNotFound when its gateway is not a device of the organization, and
	// ErrInvalid when that device is not a gateway, or Kind, GatewayID and Target do not fit
	// together (a gateway is never served; GatewayID and Target come together), or a device
	// that is not a gateway has AMTTags.
	CreateDevice(ctx context.Context, d Device) (Device, error)
	Device(ctx context.Context, id string) (Device, error)
	Devices(ctx context.Context) ([]Device, error)
	// UpdateDevice writes the mutable fields: name, labels and AMT tags (ErrInvalid when the
	// device is not a gateway and AMTTags is not empty).
	UpdateDevice(ctx context.Context, d Device) error
	RevokeDevice(ctx context.Context, id string, at time.Time) error
	// DeleteDevice removes a revoked device with its enrollment tokens and console sessions
	// (the audit chain keeps what happened). ErrConflict when the device is not revoked. A
	// gateway goes with its served devices, theirs too; ErrConflict when one of them is not
	// revoked.
	DeleteDevice(ctx context.Context, id string) error
	// DeviceSeen records an agent's connection and what it reported about itself.
	DeviceSeen(ctx context.Context, id string, at time.Time, agentVersion, capabilities string) error
	// SetTargetLinks records a gateway's report of its machines' links, for the
	// organization's devices gatewayID serves (targets matched ignoring case): those at down
	// are marked down, then those at up up. A device whose link changes gets last_seen = at;
	// revoked devices are left alone. It returns how many rows changed. Any number of targets;
	// writes are proportional to the changes, not to the machines (a gateway may reach
	// thousands).
	SetTargetLinks(ctx context.Context, gatewayID string, up, down []string, at time.Time) (int64, error)
	// LinkedTargets lists the targets of the live devices gatewayID serves whose link is up.
	LinkedTargets(ctx context.Context, gatewayID string) ([]string, error)
	// ServedDevices lists the devices gatewayID serves, revoked ones included, by name.
	ServedDevices(ctx context.Context, gatewayID string) ([]Device, error)

	CreateEnrollmentToken(ctx context.Context, tok EnrollmentToken) error
	// ConsumeEnrollmentToken marks the token used and returns it, atomically: of any number of
	// concurrent callers with one token, exactly one succeeds. An unknown, used or expired
	// token, or one for a revoked device, yields ErrTokenInvalid.
	ConsumeEnrollmentToken(ctx context.Context, hash string, now time.Time) (EnrollmentToken, error)

	CreateSession(ctx context.Context, s ConsoleSession) (ConsoleSession, error)
	Session(ctx context.Context, id string) (ConsoleSession, error)
	// SessionsToReconcile lists sessions not in a final state, oldest first.
	SessionsToReconcile(ctx context.Context) ([]ConsoleSession, error)
	// SessionsForDevice lists a device's sessions, newest first, at most limit.
	SessionsForDevice(ctx context.Context, deviceID string, limit int) ([]ConsoleSession, error)
	// TouchSession records console activity on a live session.
	TouchSession(ctx context.Context, id string, at time.Time) error
	SetSessionDesired(ctx context.Context, id string, desired SessionState, at time.Time) error
	// SetSessionGrant records the grant a session's console holds now ("view", "control",
	// "admin"; ErrInvalid otherwise, and for a session joined through a share, which only
	// watches, anything but "view").
	SetSessionGrant(ctx context.Context, id, grant string) error
	// TransitionSession moves the current state from → to (compare-and-set). ErrConflict when
	// the session is no longer in from; ErrInvalidTransition when from → to is not allowed.
	TransitionSession(ctx context.Context, id string, from, to SessionState, reason string, at time.Time) (ConsoleSession, error)
	// RequireConsent moves the current state from → CONSENT_REQUIRED (compare-and-set, as
	// TransitionSession) with the window closing at expires; reason says what the person must
	// do. Every other transition clears the window.
	RequireConsent(ctx context.Context, id string, from SessionState, reason string, expires, at time.Time) (ConsoleSession, error)

	// CreateShare stores a share link of a session of the organization (an empty ID is filled
	// in) and registers its token hash in the directory (LookupShare). ErrNotFound when the
	// session is not the organization's; ErrInvalid when the kind is unknown, the hash or
	// creator is empty, or a guest share has no expiry.
	CreateShare(ctx context.Context, sh Share) (Share, error)
	Share(ctx context.Context, id string) (Share, error)
	// ShareByTokenHash finds a share of the organization by its token's hash, revoked and
	// expired ones included (the caller tells them apart); ErrNotFound when there is none.
	ShareByTokenHash(ctx context.Context, hash string) (Share, error)
	// SharesOfSession lists a session's shares, newest first, revoked and expired included.
	SharesOfSession(ctx context.Context, sessionID string) ([]Share, error)
	// RevokeShare marks a share revoked at at; revoking it again keeps the first time.
	// ErrNotFound when the organization has no such share.
	RevokeShare(ctx context.Context, id string, at time.Time) (Share, error)
	// SessionsOfShare lists the sessions joined through a share, live and ended, oldest first.
	SessionsOfShare(ctx context.Context, shareID string) ([]ConsoleSession, error)

	// CreateRecording stores a recording being written (state recording; an empty ID is
	// filled in). ErrInvalid when the session, device or path is missing.
	CreateRecording(ctx context.Context, r Recording) (Recording, error)
	Recording(ctx context.Context, id string) (Recording, error)
	// Recordings lists the organization's recordings, newest first, as f selects.
	Recordings(ctx context.Context, f RecordingFilter) ([]Recording, error)
	// EndRecording writes how a recording being written ended (complete or failed), once:
	// ErrConflict when it already ended, ErrNotFound when there is no such recording.
	EndRecording(ctx context.Context, id string, end RecordingEnd) (Recording, error)
	// RecordingsBefore lists up to limit recordings that ended (or, still being written,
	// started) before cutoff, oldest first, for retention.
	RecordingsBefore(ctx context.Context, cutoff time.Time, limit int) ([]Recording, error)
	// DeleteRecording removes a recording's row (its files are the caller's); ErrNotFound
	// when there is none.
	DeleteRecording(ctx context.Context, id string) error

	CreateRefreshToken(ctx context.Context, rt RefreshToken) error
	// RotateRefreshToken marks oldHash rotated and stores next in the same family. A token
	// already rotated or revoked yields ErrTokenReused (the caller should then revoke the
	// family in a new transaction: this one rolls back); an unknown or expired one
	// ErrTokenInvalid.
	RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken) error
	RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error

	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	// APIKeyByPrefix finds a key by its public prefix; the caller compares the secret's hash in
	// constant time and checks RevokedAt.
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, error)
	APIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error

	// Spend records a single-use value of the organization until expires. Of any number of
	// callers with one value, on any node, exactly one succeeds; the others get ErrTokenReused.
	Spend(ctx context.Context, kind SpendKind, key string, expires time.Time) error
	// PruneSpent forgets values that expired before now and returns how many.
	PruneSpent(ctx context.Context, now time.Time) (int64, error)

	AppendAudit(ctx context.Context, rec AuditRecord) (AuditEntry, error)
	// ActorName says who actor ("user:<id>", "apikey:<id>", "device:<id>") is in this
	// organization now, as people know it: the user's email, "API key <name>", "agent <device
	// name>"; "" for actors the organization does not hold (system, OIDC subjects, one gone).
	// The one naming rule for audit entries, sessions, the console and the dashboard.
	ActorName(ctx context.Context, actor string) (string, error)
	// Audit returns up to limit entries with seq > afterSeq, in chain order.
	Audit(ctx context.Context, afterSeq int64, limit int) ([]AuditEntry, error)
}
