package device

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestServedPresence: a machine a gateway serves is online while its gateway is online and
// reports its link up, and is then last seen when its gateway was.
func TestServedPresence(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	gatewayUp := &store.Device{ID: "gw", Kind: store.DeviceGateway, LastSeen: at(-5 * time.Second)}
	gatewayGone := &store.Device{ID: "gw", Kind: store.DeviceGateway, LastSeen: at(-time.Hour)}
	gatewayRevoked := &store.Device{ID: "gw", Kind: store.DeviceGateway, LastSeen: at(-time.Second), RevokedAt: at(-time.Minute)}
	served := func(linkUp bool, changed *time.Time) store.Device {
		return store.Device{ID: "m", GatewayID: "gw", Target: "g", LinkUp: linkUp, LastSeen: changed}
	}
	linkChanged := at(-3 * time.Hour)
	for name, tc := range map[string]struct {
		d        Device
		online   bool
		lastSeen *time.Time
	}{
		"link up, gateway online":   {Device{Device: served(true, linkChanged), gateway: gatewayUp}, true, gatewayUp.LastSeen},
		"link down, gateway online": {Device{Device: served(false, linkChanged), gateway: gatewayUp}, false, linkChanged},
		"link up, gateway offline":  {Device{Device: served(true, linkChanged), gateway: gatewayGone}, false, linkChanged},
		"link up, gateway revoked":  {Device{Device: served(true, linkChanged), gateway: gatewayRevoked}, false, linkChanged},
		"link up, gateway unknown":  {Device{Device: served(true, linkChanged)}, false, linkChanged},
		"revoked machine": {Device{Device: store.Device{ID: "m", GatewayID: "gw", Target: "g", LinkUp: true, RevokedAt: at(-time.Second)},
			gateway: gatewayUp}, false, nil},
		"an agent's own device": {Device{Device: store.Device{ID: "d", LastSeen: at(-time.Second)}}, true, at(-time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			online, lastSeen := tc.d.Presence(now)
			assert.Equal(t, tc.online, online)
			assert.Equal(t, tc.lastSeen, lastSeen)
		})
	}
}
