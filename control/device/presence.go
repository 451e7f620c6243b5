package device

import (
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// HeartbeatInterval is how often a connected agent reports itself (signaling `heartbeat`).
const HeartbeatInterval = 10 * time.Second

// MissedBeats is how many heartbeats may be missed before a device counts as offline.
const MissedBeats = 3

// OfflineAfter is how long after its last heartbeat a device still counts as online.
const OfflineAfter = MissedBeats * HeartbeatInterval

// Online reports whether d's agent was seen within OfflineAfter of now. A revoked device is
// never online, whatever it last reported; a last-seen time in the future (clock skew between
// relay nodes) counts as seen now.
//
// A device a gateway serves has no heartbeat of its own: see Device.Presence.
func Online(d store.Device, now time.Time) bool {
	if d.RevokedAt != nil || d.LastSeen == nil {
		return false
	}
	return now.Sub(*d.LastSeen) <= OfflineAfter
}

// Presence says whether d is online now and when it was last seen. A device a gateway serves
// is online while its gateway is and the gateway reports its link up (Tx.SetTargetLinks:
// written when a link changes, not at every heartbeat, so a gateway of thousands of machines
// costs the store one row per heartbeat); while online it was last seen when its gateway was,
// and otherwise when its link last changed.
func (d Device) Presence(now time.Time) (online bool, lastSeen *time.Time) {
	if !d.Served() {
		return Online(d.Device, now), d.LastSeen
	}
	if d.RevokedAt != nil || !d.LinkUp || d.gateway == nil || !Online(*d.gateway, now) {
		return false, d.LastSeen
	}
	return true, d.gateway.LastSeen
}
