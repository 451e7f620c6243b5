package relay

import (
	"context"

	"github.com/kvmrelay/kvmrelay/control/denied"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// signalingDenied is signaling's OnForbidden: a peer's attempt to reach a session or device it
// does not hold goes to its organization's audit chain (SECURITY.md item 4), within the
// budget it shares with the API's refusals.
func signalingDenied(d *denied.Auditor) func(ctx context.Context, tenant, principal string, msgType wire.Type, targetSID string) {
	return func(ctx context.Context, tenant, principal string, msgType wire.Type, targetSID string) {
		d.Record(ctx, denied.Attempt{OrgID: tenant, Actor: principal, Target: "session:" + targetSID,
			Details: map[string]string{"message": string(msgType)}})
	}
}
