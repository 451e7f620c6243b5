// Package amtsim runs the Intel AMT simulator for tests and demos (never production): a fake
// MPS (its CIRA server, REST API and relay WebSocket, internal/amtsim/fakemps) and simulated
// AMT machines (internal/amtsim/firmware) that dial out to it over TLS as real AMT does, each
// showing a real VNC server's screen. cmd/amtsim wires flags to it; the e2e tests start it
// in-process.
package amtsim
