// Package fakemps is a fake of Intel's Management Presence Server for tests and demos: the
// REST routes a KVM bridge uses (login, redirection tokens, devices, redirect status, power,
// features, user consent, displays) and the relay WebSocket /relay/webrelay.ashx, with the
// real MPS's checks and quirks as read in device-management-toolkit/mps and checked against
// it (docs: /work/shared/AMT.md sections 1, 2 and 8).
//
// The devices behind it are an interface (Devices): the simulator implements it with its CIRA
// server, the redirection digest injection and a WS-Man client; tests with an in-memory one.
package fakemps
