package accounts

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors; compare with errors.Is. Callers map them to HTTP status codes.
var (
	// ErrBadCredentials is the one answer for an unknown organization, an unknown user, a
	// wrong password, a disabled user and a wrong second factor: it says nothing about which.
	ErrBadCredentials = errors.New("accounts: bad credentials")
	// ErrMFARequired means the password was right and a TOTP or recovery code is needed.
	ErrMFARequired = errors.New("accounts: second factor required")
	// ErrRateLimited is matched by every *RateLimitError.
	ErrRateLimited = errors.New("accounts: too many attempts")
	// ErrForbidden means the principal may not do this.
	ErrForbidden = errors.New("accounts: forbidden")
	// ErrTokenReused means a refresh token was presented after it had been rotated: its whole
	// family is now revoked.
	ErrTokenReused = errors.New("accounts: refresh token reused; session revoked")
	// ErrInvalidToken is any bearer, refresh or invitation token that is not accepted.
	ErrInvalidToken = errors.New("accounts: invalid token")
	// ErrInvalid is a malformed request: a short password, a bad email, an unknown role.
	ErrInvalid = errors.New("accounts: invalid request")
	// ErrNotFound is a user or API key that does not exist in the principal's organization.
	ErrNotFound = errors.New("accounts: not found")
	// ErrConflict is a second user with the same email, or an organization slug in use.
	ErrConflict = errors.New("accounts: already exists")
	// ErrMail means an invitation or reset link was stored but its mail could not be sent.
	ErrMail = errors.New("accounts: mail not sent")
	// ErrWrongPassword is a wrong current password when changing it (the caller is logged in,
	// so saying which is wrong tells nothing new).
	ErrWrongPassword = errors.New("accounts: current password is wrong")
	// ErrMFAEnrollmentRequired means the organization requires a second factor and the
	// principal has none yet: its session may only enroll TOTP.
	ErrMFAEnrollmentRequired = errors.New("accounts: the organization requires MFA; enroll TOTP first")
)

// RateLimitError says how long to wait; it matches ErrRateLimited.
type RateLimitError struct {
	RetryAfter time.Duration
	// Account: the account itself is slowed by wrong passwords from elsewhere (a flood from
	// rotating addresses), not this client. Its user gets in at once with a current code
	// from the authenticator app (or from a client it signed in from before).
	Account bool
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("accounts: too many attempts; retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

func rateLimited(d time.Duration) error {
	if d < time.Second {
		d = time.Second
	}
	return &RateLimitError{RetryAfter: d}
}
