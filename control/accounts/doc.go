// Package accounts is the control plane's identity service: organizations' owners and users,
// passwords (argon2id), login with optional TOTP, 15-minute access JWTs and rotating refresh
// tokens, API keys, invitations, roles scoped by device labels, and access tokens from an
// external OIDC issuer. The HTTP layer calls it; every credential check and every change is
// verified inside a store transaction of the principal's organization, and every change is
// audited in that same transaction.
//
// Failed logins lock the client that made them and only slow the account down for clients it
// does not know (throttle.go); password hashing is bounded per node, and made-up accounts'
// hashing is shed first under load (hasher.go).
package accounts
