package ca

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers facing the network should answer every enrollment or verification
// failure the same way (401) and keep the precise reason for the audit log.
var (
	ErrNotFound          = errors.New("ca: no root stored")
	ErrExists            = errors.New("ca: root already stored")
	ErrBadCSR            = errors.New("ca: certificate request refused")
	ErrBadDeviceID       = errors.New("ca: invalid device id")
	ErrBadTTL            = errors.New("ca: invalid certificate lifetime")
	ErrUntrusted         = errors.New("ca: certificate not trusted")
	ErrRevoked           = errors.New("ca: device revoked")
	ErrRevocationCheck   = errors.New("ca: revocation check failed")
	ErrNoRevocationCheck = errors.New("ca: no revocation checker configured")
	ErrNoCertificate     = errors.New("ca: no client certificate")
	ErrBadProof          = errors.New("ca: proof of key refused")
)

// ErrTokenRejected is wrapped by every enrollment token refusal: the HTTP layer answers all
// of them alike. The specific errors are for the audit log and tests.
var (
	ErrTokenRejected  = errors.New("ca: enrollment token rejected")
	ErrTokenMalformed = fmt.Errorf("%w: malformed", ErrTokenRejected)
	ErrTokenUnknown   = fmt.Errorf("%w: unknown", ErrTokenRejected)
	ErrTokenUsed      = fmt.Errorf("%w: already used", ErrTokenRejected)
	ErrTokenExpired   = fmt.Errorf("%w: expired", ErrTokenRejected)
)
