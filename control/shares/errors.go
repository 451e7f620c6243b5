package shares

import "errors"

// Kinds of refusal, matched with errors.Is on an *Error; the API maps each to its status.
var (
	// ErrNotFound: no such session, share or token in the caller's organization (404).
	ErrNotFound = errors.New("shares: not found")
	// ErrGone: the share no longer admits anyone — revoked, expired, or its session ended (410).
	ErrGone = errors.New("shares: share link no longer works")
	// ErrForbidden: the caller may not do this to the session (403).
	ErrForbidden = errors.New("shares: not allowed")
	// ErrGuestLinksOff: the organization does not allow guest links (403).
	ErrGuestLinksOff = errors.New("shares: guest links are off")
	// ErrConflict: the session ended, or holds as many live shares as it may (409).
	ErrConflict = errors.New("shares: conflict")
	// ErrBadRequest: a kind, duration or name that cannot be (400).
	ErrBadRequest = errors.New("shares: bad request")
)

// Error is a refusal with the sentence to show people: what happened and what to do.
type Error struct {
	Kind error // one of the Err values
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, msg string) error { return &Error{Kind: kind, Msg: msg} }

// GuestLinksOffMessage answers a guest share asked for where the organization does not allow
// them.
const GuestLinksOffMessage = "Guest links are off for this organization; an owner can turn them on in the organization's settings."
