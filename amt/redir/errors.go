package redir

import (
	"errors"
	"fmt"
)

// Conditions callers check with errors.Is. Each text is one line a user can act on.
var (
	// ErrBusy: StartRedirectionSessionReply status 2.
	ErrBusy = errors.New("AMT is busy with another redirection session: close the other KVM session (or wait for it to time out) and retry")
	// ErrUnsupported: status 1 or 3, or no authentication type this client can use.
	ErrUnsupported = errors.New("AMT does not support this KVM redirection session: check that KVM redirection is enabled in the AMT configuration")
	// ErrRedirectionRefused: status 0xFF or any other non-zero status.
	ErrRedirectionRefused = errors.New("AMT refused the redirection session: check that KVM redirection and its port are enabled, then retry")
	// ErrAuthFailed: the digest was rejected.
	ErrAuthFailed = errors.New("AMT refused the credentials: check the AMT password (through MPS, the AMT password MPS stores for this device)")
	// ErrProtocol: bytes that are not the redirection protocol as AMT speaks it.
	ErrProtocol = errors.New("unexpected redirection protocol data: the peer is not an Intel AMT redirection port, or something in between altered the stream")
	// ErrTooManyAttempts (server): the client failed authentication MaxAttempts times.
	ErrTooManyAttempts = errors.New("the client failed AMT digest authentication too many times; the session was closed")
	// ErrSessionEnded (server): the client sent EndRedirectionSession before KVM started.
	ErrSessionEnded = errors.New("the client ended the redirection session before KVM started")
)

// ErrorForStatus maps a StartRedirectionSessionReply status to the error a client reports; nil
// for StatusSuccess.
func ErrorForStatus(status byte) error {
	switch status {
	case StatusSuccess:
		return nil
	case StatusBusy:
		return ErrBusy
	case StatusTypeUnknown, StatusUnsupported:
		return fmt.Errorf("%w (status %d)", ErrUnsupported, status)
	}
	return fmt.Errorf("%w (status %#x)", ErrRedirectionRefused, status)
}

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
