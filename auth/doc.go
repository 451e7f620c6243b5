// Package auth mints and verifies kvmrelay's signed tokens: short-lived ES256 JWTs with a
// separate audience per use (console sessions, agents, one-time console logins). Every token
// must carry exp, aud and iss; keys are identified by kid and looked up in a key set, so a
// retired key can keep verifying while a new one signs.
package auth
