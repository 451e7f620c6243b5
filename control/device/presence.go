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
func Online(d store.Device, now time.Time) bool {
	if d.RevokedAt != nil || d.LastSeen == nil {
		return false
	}
	return now.Sub(*d.LastSeen) <= OfflineAfter
}
