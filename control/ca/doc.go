// Package ca is the relay's internal certificate authority for agents: an EC P-384 root,
// created once and persisted through a KeyStore, that turns an agent's CSR into a short-lived
// client certificate (CN = device id, URI SAN urn:kvmrelay:device:<id>, client auth only).
// It also holds one-time enrollment tokens (a TokenStore consumes them atomically) and the
// Enroller that ties token → CSR → certificate together.
//
// Every verification (Verify, the mTLS hook, VerifyProof) consults a RevocationChecker and
// fails closed when it is missing or errors: revoking a device takes effect at the next
// handshake (resumed ones included) or proof, whatever the certificate's remaining lifetime.
// Connections already open are cut by Live.CloseDevice, which the revocation path calls on
// every relay node.
//
// # Which deployments need which
//
// An agent proves its identity in one of two ways; the relay accepts both, the deployment
// decides which one can actually reach it.
//
//   - mTLS (ServerTLSConfig): use it whenever the relay itself terminates TLS — the embedded
//     single-machine mode, a TCP/SNI passthrough load balancer (HAProxy mode tcp, AWS NLB
//     with a TCP listener, Kubernetes ingress with ssl-passthrough). The key never signs
//     anything but the TLS transcript, and the identity is bound to the whole connection.
//   - Proof of key (keyproof + VerifyProof): use it when TLS ends before the relay — an HTTP
//     reverse proxy or L7 load balancer (nginx, Caddy, Traefik, AWS ALB, Cloudflare) that
//     does not forward client certificates, or forwards them in a header the relay must not
//     trust. The agent signs a relay-issued nonce, the relay's audience, a timestamp and the
//     hash of the request body with its device key and sends its certificate; the relay
//     checks the chain, revocation, freshness and the signature. Nonces are single use: the
//     caller that hands one out must also retire it.
//
// Never trust a proxy header such as X-Client-Cert or X-SSL-Client-Verify as an identity:
// anyone who reaches the relay around the proxy can set it.
package ca
