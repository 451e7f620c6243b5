// Package sessions runs console sessions' desired/current state machine on top of the store.
//
// A session is created REQUESTED with desired ACTIVE when someone with console rights asks for
// it; the console URL handed out carries a one-time login for exactly that session. The
// console's signaling connection moves it to ACTIVE (Admit). The console's Disconnect (a
// signaling bye) stops it at once, "closed by user" (Closed); a connection lost without one
// starts the reconnect grace (Left, lifecycle.go). Asking for STOPPED (DELETE, an admin, a
// revoked device) sets desired; the reconciler moves current toward desired, ends what hangs
// (a console URL never opened, a session past the organization's maximum duration, a session
// without a connected console for longer than the reconnect grace or the idle timeout) and
// cuts the live console. All state is in the store, so any relay node's reconciler can pick it up after a
// restart; transitions are compare-and-set, so nodes racing on one session agree.
//
// Each session has a grant (view, control, admin) from its principal's role, minted into its
// link by Start and derived again by Admit, Check and Reauthorize, which hands changes to a
// Regranter; what happens on a shared console is audited here too (shared.go).
package sessions
