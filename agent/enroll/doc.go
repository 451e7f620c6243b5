// Package enroll gives an agent its device identity: it makes an EC P-384 key and CSR, trades
// a one-time enrollment token for a certificate from the relay's internal CA, keeps key,
// certificate and CA in a state directory, and renews the certificate before it expires.
//
// State directory (created 0700 if missing; every file 0600, written to a temporary file and
// renamed into place):
//
//	agent.key  PKCS#8 "PRIVATE KEY", EC P-384; written once at enrollment, never sent anywhere
//	agent.crt  the current device certificate; replaced atomically by each renewal
//	ca.crt     the relay's device CA root, as returned at enrollment
//
// agent.crt is written last, so its presence means the enrollment completed. The relay's
// server certificate is not checked against ca.crt: that CA signs device certificates only.
//
// The identity is presented either in the TLS handshake (Identity.GetClientCertificate,
// which always returns the newest certificate, so renewals apply without a restart) or, where
// TLS ends at a proxy, as a signed proof of key (see control/ca/keyproof).
package enroll
