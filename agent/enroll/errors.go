package enroll

import "errors"

// Sentinel errors.
var (
	ErrNotEnrolled     = errors.New("enroll: state directory holds no identity")
	ErrAlreadyEnrolled = errors.New("enroll: state directory already holds an identity")
	ErrBadCertificate  = errors.New("enroll: relay returned an unusable certificate")
	ErrBadState        = errors.New("enroll: state directory is inconsistent")
)

// Refusals by the relay, matched by the errors HTTPClient returns.
var (
	ErrTokenRejected = errors.New("enrollment token invalid or used — ask an admin for a new enrollment token")
	ErrProofRefused  = errors.New("the relay refused this agent's proof of key: a stale challenge, or a certificate that is expired, revoked or from another relay (then enroll again with a new token)")
)
