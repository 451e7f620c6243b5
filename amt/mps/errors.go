package mps

import (
	"errors"
	"fmt"
)

// Conditions a caller acts on. Each says what happened and what to do next.
var (
	// ErrUnauthorized: MPS (or the gateway before it) refused the login or the token.
	ErrUnauthorized = errors.New("MPS refused the login: check the MPS user name and password (and the gateway's token check, if one is in front)")
	// ErrNotFound: MPS has no device with this GUID.
	ErrNotFound = errors.New("the device is unknown to MPS: check the device GUID, or register the device with MPS")
	// ErrNotConnected: the device's CIRA link to MPS is down.
	ErrNotConnected = errors.New("the device is not connected to MPS: check that the machine has power and network and that AMT can reach MPS, then retry")
	// ErrInUse: MPS already relays a KVM session to this device (one per device).
	ErrInUse = errors.New("a KVM session to this device is already open through MPS: close the other session or wait for it to end, then retry")
	// ErrConsent: AMT refused the user consent code.
	ErrConsent = errors.New("AMT refused the user consent code: read the 6-digit code on the machine's screen and submit it again, or request a new code")
	// ErrTokenRefused: the relay WebSocket refused a freshly issued redirection token although the
	// device is connected and free.
	ErrTokenRefused = errors.New("MPS refused its own redirection token: check the clocks of MPS and this host, that all MPS instances share one JWT secret, and the relay path")
	// ErrBadText: a TEXT frame held something other than code points U+0000–U+00FF.
	ErrBadText = errors.New("the MPS relay sent a text frame that is not one byte per character: check that the URL points at an MPS relay")
)

// AMTError is an AMT method that ran but answered a ReturnValue other than 0 (SUCCESS).
// errors.Is(err, ErrConsent) holds when the method was SendOptInCode.
type AMTError struct {
	Op          string // what was asked, e.g. "submit consent code"
	ReturnValue int
	Name        string // MPS's ReturnValueStr, e.g. "INVALID_PARAMETER"; may be empty
}

func (e *AMTError) Error() string {
	name := e.Name
	if name == "" {
		name = "unknown"
	}
	msg := fmt.Sprintf("AMT refused to %s: ReturnValue %d (%s)", e.Op, e.ReturnValue, name)
	if e.ReturnValue == returnUnsupported {
		msg += ": this AMT does not support it"
	}
	return msg
}

// Is makes a refused consent code match ErrConsent.
func (e *AMTError) Is(target error) bool { return target == ErrConsent && e.Op == opSubmitConsent }

// returnUnsupported is AMT's UNSUPPORTED (0x812).
const returnUnsupported = 2066

// StatusError is an MPS reply with an HTTP status the call does not expect.
type StatusError struct {
	Op      string // e.g. "GET /api/v1/amt/features/…"
	Status  int
	Message string // MPS's error text, when it sent one
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("MPS answered HTTP %d to %s", e.Status, e.Op)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Status >= 500 {
		s += " (MPS could not complete the request with the device; retry, and check the MPS log)"
	}
	return s
}
