// Package shares is the share links of console sessions (issue 11, "Share"): an operator
// shares a running console with a colleague of the organization (a member link, opened after
// signing in) or, when the organization allows it, with someone without an account (a guest
// link: time-limited, revocable, under a name the guest gives). A share never grants control:
// everyone who joins through one gets a console session of their own on the shared session's
// device, with grant view (control/sessions decides, for those sessions, when they end).
//
// The Service creates, lists and revokes a session's shares for its own person (whose console
// may hold control, re-derived now) or an admin, and lets members and guests join. Only the
// SHA-256 of a share's token is stored; the link with the token is shown once, to its creator.
// Everything is audited in the organization's chain: share_create, share_revoke, share_join.
package shares
