// Package turn is kvmrelay's embedded TURN server (RFC 8656, RFC 6062 TCP relaying) built on
// pion/turn v5.
//
// It adds what pion leaves to its user and what a relay facing the Internet needs:
//
//   - coturn-compatible time-limited credentials ("TURN REST API", use-auth-secret) with
//     several secrets verifying at once so secrets can rotate (credentials.go, keyring.go);
//   - a default-deny peer-address policy decided on normalized addresses, so that 0.0.0.0,
//     [::1], IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo spellings of internal
//     addresses cannot be relayed to (policy.go, addr.go), enforced in three layers: a STUN
//     guard in front of pion (guard*.go), pion's PermissionHandler, and the relay sockets
//     themselves (relay.go);
//   - allocation quotas per user and in total (quota.go), a per-allocation bandwidth cap
//     (limit.go) and Prometheus metrics (metrics.go).
//
// A Server listens on UDP and TCP on one port — UDP on several SO_REUSEPORT sockets, steered
// by client address so each has its own read loop (listen.go, reuseport_linux.go) — and on
// TLS on another where configured (tls.go), and hands out ICE server entries with fresh
// credentials for each console session (ice.go). Every socket it opens goes through one
// seam (sockets.go), so Config.Net can move the whole server onto pion's virtual network
// for tests. On Linux, ChannelData — nearly all of a session's datagrams — is relayed
// without pion (fastpath.go) with raw non-blocking system calls (rawudp_linux.go), and relay
// loops read the UDP relay sockets with recvmmsg and answer clients with sendmmsg
// (relay_loop_linux.go), behind the same checks. README.md beside this file covers
// operation, interop and benchmarks.
package turn
