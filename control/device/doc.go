// Package device holds what the relay and the admin API share about enrolled devices: the
// enrollment token format as stored (NewEnrollmentToken, EnrollmentTokenHash), presence
// (Online, from the heartbeat's last-seen time), the capabilities an agent reports (hostile
// text, capped and stripped of control characters), and a ca.RevocationChecker backed by the
// store.
package device
