package store

import "time"

// SessionState is where a console session is, or where it should be.
type SessionState string

// Session states: IDLE → REQUESTED → ACTIVE → STOPPED, or ERROR with a reason. A machine
// that asks a person's consent first (Intel AMT) puts a requested or active session in
// CONSENT_REQUIRED until the code shown on its screen is entered (back to ACTIVE) or the
// window closes (ERROR).
const (
	SessionIdle            SessionState = "IDLE"
	SessionRequested       SessionState = "REQUESTED"
	SessionActive          SessionState = "ACTIVE"
	SessionConsentRequired SessionState = "CONSENT_REQUIRED"
	SessionStopped         SessionState = "STOPPED"
	SessionError           SessionState = "ERROR"
)

// Valid reports whether s is a defined state.
func (s SessionState) Valid() bool {
	switch s {
	case SessionIdle, SessionRequested, SessionActive, SessionConsentRequired, SessionStopped, SessionError:
		return true
	}
	return false
}

// Final reports whether no transition leaves s.
func (s SessionState) Final() bool { return s == SessionStopped || s == SessionError }

// CanTransition reports whether the current state may move from → to. Every live state may
// stop or fail; otherwise only one step forward.
func CanTransition(from, to SessionState) bool {
	if !from.Valid() || !to.Valid() || from.Final() {
		return false
	}
	switch to {
	case SessionStopped, SessionError:
		return true
	case SessionRequested:
		return from == SessionIdle
	case SessionActive:
		return from == SessionRequested || from == SessionConsentRequired
	case SessionConsentRequired:
		return from == SessionRequested || from == SessionActive
	}
	return false
}

// ConsoleSession is one console's desired/current state machine; a reconciler drives Current
// toward Desired and times out what hangs past ExpiresAt.
type ConsoleSession struct {
	ID        string
	OrgID     string
	DeviceID  string
	Principal string // who opened it: "user:<id>", "apikey:<id>", "guest:<share id>", …
	Desired   SessionState
	Current   SessionState
	Reason    string // why it is in ERROR or STOPPED
	CreatedAt time.Time
	UpdatedAt time.Time
	StartedAt *time.Time // set on entering ACTIVE
	EndedAt   *time.Time // set on entering STOPPED or ERROR
	ExpiresAt time.Time
	// LastActivity is when a console last showed activity (TouchSession); the reconciler ends
	// sessions idle longer than the organization's idle timeout. Nil until the first touch.
	LastActivity *time.Time
	// ConsentExpiresAt is when the consent window closes, while CONSENT_REQUIRED; nil
	// otherwise.
	ConsentExpiresAt *time.Time
	// Grant is what the session's console may do on the machine (view, control, admin): as it
	// started, then as derived when its console connects and at each session check
	// (Tx.SetSessionGrant); empty for sessions created before grants were stored.
	Grant string
	// ShareID is the share link the session joined through; empty for a session its
	// principal started. A session joined through a share only ever watches.
	ShareID string
	// DisplayName is the name a guest gave when joining through a guest link (cleaned,
	// without the " (guest)" others see); empty for every other session.
	DisplayName string
}
