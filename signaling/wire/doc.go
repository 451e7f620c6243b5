// Package wire is the signaling wire format shared by the relay, its agents and consoles: the
// versioned JSON envelope, its message types and bodies (docs/protocol.md), and the checks
// both ends apply to what they receive. It depends on no server or transport code, so an
// agent links it without the relay.
package wire
