// Package redir implements Intel AMT's redirection protocol as far as a KVM session needs
// it: the messages (little-endian, on port 16994 before RFB starts), the client handshake
// (Handshake), the firmware side for the simulator (Serve), and the digest rewriting Intel's
// MPS does on relay sessions with p=2 (Interposer), for a fake MPS.
//
// Sources: MeshCentral's amt-redir-ws, kraxel/amtterm (redir.c, auth.c) and Intel MPS
// (src/utils/redirectInterceptor.ts).
//
// Bytes from the peer are hostile: every message length is bounded (MaxAuthDataLen), readers
// never read past the message they decode, and the simulator's digest check is constant-time
// and refuses empty or replayed responses (CVE-2017-5689 was AMT accepting an empty digest).
package redir
