// Package mps is a client for Intel's Management Presence Server (MPS): its REST API (login,
// devices, power, AMT features, user consent, displays) and its relay WebSocket, which carries a
// device's port-16994 redirection stream (KVM) through the device's CIRA link.
//
// DialKVM returns the relay as a net.Conn carrying a plain byte stream: MPS sends device bytes
// as TEXT frames with one code point per byte, which the conn decodes; BINARY frames pass as
// they are. What flows over it is the redirection protocol (package amt/redir), then RFB.
//
// Errors callers act on are sentinels (ErrUnauthorized, ErrNotFound, ErrNotConnected, ErrInUse,
// ErrConsent, ErrTokenRefused, ErrBadText); AMT method failures are *AMTError.
package mps
