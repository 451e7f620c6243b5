// Package signaling carries WebRTC negotiation between browser consoles and agents through the
// relay: the versioned JSON envelope (docs/protocol.md), the WebSocket endpoints with their
// Origin and token checks, routing by console session, and the bus that lets a console on one
// relay node reach an agent on another.
package signaling
