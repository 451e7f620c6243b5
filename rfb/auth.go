package rfb

import (
	"crypto/des"
	"errors"
	"fmt"
	"math/bits"
)

// Security types (RFC 6143 §7.1.2).
const (
	SecurityInvalid = 0
	SecurityNone    = 1
	SecurityVNCAuth = 2
)

// Errors callers tell apart: the agent words each for the operator.
var (
	// ErrAuthFailed: the server refused the password (or, with security None, the connection).
	ErrAuthFailed = errors.New("rfb: authentication failed")
	// ErrPasswordRequired: the server wants VNC authentication and no password was given.
	ErrPasswordRequired = errors.New("rfb: the server requires a password")
	// ErrSecurityUnsupported: the server offers no security type this client speaks.
	ErrSecurityUnsupported = errors.New("rfb: no supported security type")
	// ErrRefused: the server refused the connection before authentication, with a reason
	// (too many connections, too many authentication failures).
	ErrRefused = errors.New("rfb: the server refused the connection")
)

// vncAuthResponse encrypts the server's 16-byte challenge with DES keyed by the password, as
// VNC authentication wants: the password is cut or zero-padded to 8 bytes and each key byte's
// bits are mirrored (a quirk of the original implementation every server copies).
func vncAuthResponse(password string, challenge []byte) ([]byte, error) {
	if len(challenge) != 16 {
		return nil, fmt.Errorf("rfb: VNC auth challenge of %d bytes, want 16", len(challenge))
	}
	var key [8]byte
	copy(key[:], password)
	for i, b := range key {
		key[i] = bits.Reverse8(b)
	}
	block, err := des.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("rfb: DES key: %w", err)
	}
	out := make([]byte, 16)
	block.Encrypt(out[:8], challenge[:8])
	block.Encrypt(out[8:], challenge[8:])
	return out, nil
}
