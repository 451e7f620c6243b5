package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error codes the API answers in {"code": …, "message": …}.
const (
	CodeBadRequest   = "bad-request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not-found"
	CodeConflict     = "conflict"
	CodeRateLimited  = "rate-limited"
	// CodeAccountSlowed: wrong passwords from elsewhere slow the account down; the password
	// with a current authenticator code (LoginRequest.TOTP) signs its user in at once.
	CodeAccountSlowed = "account-slowed"
	CodeMFARequired   = "mfa-required"
	// CodeMFAEnrollmentRequired: the organization requires MFA and the user has none yet.
	CodeMFAEnrollmentRequired = "mfa-enrollment-required"
	CodeInvalidToken          = "invalid-token"
	CodeInternal              = "internal"
)

// Exit codes of kvmctl; ExitCode maps errors to them.
const (
	ExitOK           = 0
	ExitError        = 1
	ExitUsage        = 2
	ExitUnauthorized = 3 // unauthorized or forbidden, not logged in, MFA needed
	ExitNotFound     = 4
	ExitConflict     = 5
	ExitUnreachable  = 6
	ExitChainBroken  = 7
	ExitRateLimited  = 8
)

// APIError is an error answer of the server.
type APIError struct {
	Status     int    // HTTP status
	Code       string // one of the Code constants (derived from Status when the body had none)
	Message    string // the server's message: it says what to do next
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Message != "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString(http.StatusText(e.Status))
	}
	fmt.Fprintf(&b, " (%s, HTTP %d)", e.Code, e.Status)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter.Round(time.Second))
	}
	return b.String()
}

// IsAccountSlowed reports whether err is a login refused because a flood of wrong passwords
// from elsewhere slows the account: a current authenticator code with the password gets in.
func IsAccountSlowed(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == CodeAccountSlowed
}

// IsMFARequired reports whether err is the server asking for a TOTP or recovery code.
func IsMFARequired(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == CodeMFARequired
}

// IsMFAEnrollmentRequired reports whether err is the server refusing a session that may only
// enroll MFA: the organization requires it and the user has none (kvmctl mfa enable).
func IsMFAEnrollmentRequired(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == CodeMFAEnrollmentRequired
}

// ErrNotLoggedIn means there are no credentials for the server: run kvmctl login.
var ErrNotLoggedIn = errors.New("not logged in")

// ErrNoServer means no server URL was given and none is remembered.
var ErrNoServer = errors.New("no server: pass --server URL (it is remembered after login)")

// UnreachableError is a request that got no HTTP answer from the relay (connection refused,
// DNS, TLS, timeout), or a proxy's answer that the relay behind it is down.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("server %s unreachable: %v", e.Server, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// AmbiguousError is a device name that more than one device carries.
type AmbiguousError struct {
	Ref        string
	Candidates []Device
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q names %d devices; use an id:", e.Ref, len(e.Candidates))
	for _, d := range e.Candidates {
		fmt.Fprintf(&b, "\n  %s  %s", d.ID, Sanitize(d.Name))
		if len(d.Labels) > 0 {
			fmt.Fprintf(&b, "  %s", Sanitize(FormatLabels(d.Labels)))
		}
		if d.RevokedAt != nil {
			b.WriteString("  (revoked)")
		}
	}
	return b.String()
}

// DeviceNotFoundError is a device reference that is neither an id nor a name of a device the
// principal can see.
type DeviceNotFoundError struct{ Ref string }

func (e *DeviceNotFoundError) Error() string {
	return fmt.Sprintf("no device has the id or name %q (kvmctl devices list shows them)", e.Ref)
}

// ChainBrokenError is an audit chain that failed verification at Seq.
type ChainBrokenError struct {
	Seq    int64
	Reason string
}

func (e *ChainBrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// RecordingTamperedError is a recording whose files or catalogue entry do not match what the
// audit chain recorded when it closed; Problems say what differs.
type RecordingTamperedError struct {
	ID       string
	Problems []string
}

func (e *RecordingTamperedError) Error() string {
	return fmt.Sprintf("recording %s does not verify: %s", e.ID, strings.Join(e.Problems, "; "))
}

// UsageError is a command used wrongly (kvmctl's own; the client never returns it).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitCode maps an error to kvmctl's exit code (nil → 0).
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		ae  *APIError
		ue  *UnreachableError
		cb  *ChainBrokenError
		rt  *RecordingTamperedError
		nf  *DeviceNotFoundError
		use *UsageError
	)
	switch {
	case errors.As(err, &use), errors.Is(err, ErrNoServer):
		return ExitUsage
	case errors.As(err, &cb), errors.As(err, &rt):
		return ExitChainBroken
	case errors.As(err, &nf):
		return ExitNotFound
	case errors.Is(err, ErrNotLoggedIn):
		return ExitUnauthorized
	case errors.As(err, &ae):
		return apiExitCode(ae)
	case errors.As(err, &ue):
		return ExitUnreachable
	}
	return ExitError
}

func apiExitCode(e *APIError) int {
	switch e.Code {
	case CodeUnauthorized, CodeForbidden, CodeInvalidToken, CodeMFARequired, CodeMFAEnrollmentRequired:
		return ExitUnauthorized
	case CodeNotFound:
		return ExitNotFound
	case CodeConflict:
		return ExitConflict
	case CodeRateLimited:
		return ExitRateLimited
	case CodeBadRequest, CodeInternal:
		return ExitError
	}
	switch e.Status { // a code this client does not know: go by the status
	case http.StatusUnauthorized, http.StatusForbidden:
		return ExitUnauthorized
	case http.StatusNotFound:
		return ExitNotFound
	case http.StatusConflict:
		return ExitConflict
	case http.StatusTooManyRequests:
		return ExitRateLimited
	}
	return ExitError
}

// codeForStatus is the code of an answer whose body carried none (a proxy's, say).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusTooManyRequests:
		return CodeRateLimited
	}
	if status >= 400 && status < 500 {
		return CodeBadRequest
	}
	return CodeInternal
}
