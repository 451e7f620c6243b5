// Package wsman speaks the small part of WS-Management that Intel's MPS uses to
// manage an AMT device over a CIRA channel to port 16992: SOAP 1.2 envelopes
// posted to /wsman over HTTP/1.1 with RFC 2617 digest authentication.
//
// The Client sends the same requests, byte for byte in shape, as Intel's MPS
// (its wsman-messages library): power state, power actions, the redirection,
// KVM and user-consent (IPS_OptInService) features, and the KVM displays.
// The Server answers them like AMT firmware for the simulator: chunked
// responses (MPS only treats a response as complete once it sees "0\r\n\r\n"
// or "</html>"), digest challenges with fresh nonces shared by all of a
// device's connections (MPS retries a 401 on a new channel with the old
// nonce), and SOAP faults for anything else.
//
// Nothing here was checked against AMT hardware; the response shapes follow
// captures in Intel's MPS tests.
package wsman
