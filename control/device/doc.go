// Package device holds what the relay and the admin API share about enrolled devices: the
// Service principals change devices through (create, rename and relabel, revoke, delete,
// enrollment tokens: scope-checked, validated and audited in one transaction), the rules for
// what an admin may call a device (CheckFields: printable text only, as internal/safetext
// defines it), the enrollment token format as stored (NewEnrollmentToken,
// EnrollmentTokenHash), presence (Online, from the heartbeat's last-seen time), the
// capabilities an agent reports (hostile text, capped and stripped of what safetext refuses),
// and a ca.RevocationChecker backed by the store.
package device
