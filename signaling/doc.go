// Package signaling is the relay's side of WebRTC negotiation between browser consoles and
// agents: the WebSocket endpoints with their Origin and token checks, routing by console
// session, and the bus that lets a console on one relay node reach an agent on another. The
// envelope it carries is package wire (docs/protocol.md); agents and test consoles dial with
// package sigclient, which links none of this. Several consoles may share one machine: each
// connection keeps its grant and the relay refuses what it does not allow, while the agent
// decides who holds control (shared.go, grant.go).
package signaling
