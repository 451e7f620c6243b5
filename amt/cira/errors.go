package cira

import "errors"

// Sentinel errors callers check with errors.Is.
var (
	// ErrNotConnected: Server.Dial for a device that has no logged-in CIRA link.
	ErrNotConnected = errors.New("cira: device not connected")
	// ErrRefused: the device answered a channel open with CHANNEL_OPEN_FAILURE.
	ErrRefused = errors.New("cira: channel refused by device")
	// ErrLinkDown: the CIRA link ended (peer closed, dropped, idle, or protocol error).
	ErrLinkDown = errors.New("cira: link down")
	// ErrAuthFailed: MPS answered the login with USERAUTH_FAILURE.
	ErrAuthFailed = errors.New("cira: MPS refused the device's user name or password")
	// ErrRejected: MPS closed the link before the login finished (it ends the link at
	// PROTOCOL_VERSION when it does not know the device's GUID).
	ErrRejected = errors.New("cira: MPS closed the link during login (is the device GUID registered?)")
	// ErrProtocol: the peer sent something APF does not allow; the link is dropped.
	ErrProtocol = errors.New("cira: protocol error")
	// ErrPeerClosed: writing to a channel the peer has closed.
	ErrPeerClosed = errors.New("cira: channel closed by peer")
	// ErrTooManyChannels: a link already has the maximum number of open channels.
	ErrTooManyChannels = errors.New("cira: too many channels on the link")
)

// Causes recorded when this side ends a link on purpose.
var (
	errLocalClose = errors.New("closed by this side")
	errDropped    = errors.New("dropped by fault injection")
	errReplaced   = errors.New("replaced by a new login for the same GUID")
)
