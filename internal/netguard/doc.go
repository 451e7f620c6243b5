// Package netguard keeps a server's TCP listeners alive and fair when clients (or an attacker)
// open more connections than the process has file descriptors.
//
// Go's accept loops in fasthttp and pion/turn treat any error but a timeout as the end of
// serving: one EMFILE under a flood of idle connections stopped the relay's HTTP server (the
// process exited) and silently stopped TURN over TCP. A Guard wraps each listener so that:
//
//   - Accept never returns an error but net.ErrClosed: temporary failures (EMFILE, ENFILE,
//     ECONNABORTED, ENOBUFS…) back off (5 ms doubling to 1 s, as net/http does) and retry; while
//     descriptors are exhausted the oldest unproven connection is evicted, or the pending one is
//     accepted with a spare descriptor and closed at once, so the backlog keeps moving.
//   - Connections are counted against one budget shared by every guarded listener, set below
//     the descriptor limit (RLIMIT_NOFILE) by a reserve for everything else the process opens:
//     database and Redis connections, TURN relay sockets, files, the health check that comes in.
//     Over budget, the newcomer takes the place of the oldest connection that has not proven
//     itself — first one that never sent a byte, then one that talked but never authenticated.
//     Connections the application has marked with Trust (an agent's or console's authenticated
//     WebSocket, a TURN connection holding an allocation) are never evicted.
//   - Each client address (IPv6 by /64, which one subscriber holds) has a cap on concurrent
//     connections; addresses of trusted proxies are exempt, because every client behind them
//     shares their address.
//   - A connection that sends nothing within FirstByteTimeout is closed.
//
// Every refusal is counted in kvmrelay_connections_refused_total{listener,reason}.
package netguard
