package enroll

import "errors"

// Sentinel errors.
var (
	ErrNotEnrolled     = errors.New("enroll: state directory holds no identity")
	ErrAlreadyEnrolled = errors.New("enroll: state directory already holds an identity")
	ErrBadCertificate  = errors.New("enroll: relay returned an unusable certificate")
	ErrBadState        = errors.New("enroll: state directory is inconsistent")
)
