package relay

import (
	"context"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Presence: agents send a heartbeat every device.HeartbeatInterval (10 s) over their
// signaling WebSocket; the relay records last seen, version and capabilities in the store
// (tx.DeviceSeen), and device.Online says a device is online while its last heartbeat is
// within three intervals.

// Heartbeat recording limits.
const (
	// minBeatGap drops heartbeats that come faster than this from one device: an agent
	// cannot turn its WebSocket into a stream of database writes.
	minBeatGap = 2 * time.Second
	// beatWriteTimeout bounds the store write of one heartbeat.
	beatWriteTimeout = 5 * time.Second
	// maxBeatDevices bounds the throttle's memory.
	maxBeatDevices = 100_000
)

// beatThrottle remembers when each device's heartbeat was last recorded.
type beatThrottle struct {
	now func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

func newBeatThrottle(now func() time.Time) *beatThrottle {
	return &beatThrottle{now: now, last: make(map[string]time.Time)}
}

// allow reports whether a heartbeat of dev should be recorded now, and if so notes it.
func (b *beatThrottle) allow(dev string) (time.Time, bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.last[dev]; ok && now.Sub(t) < minBeatGap {
		return now, false
	}
	if len(b.last) >= maxBeatDevices {
		for k, t := range b.last {
			if now.Sub(t) >= minBeatGap {
				delete(b.last, k)
			}
		}
	}
	b.last[dev] = now
	return now, true
}

// linksWriteTimeout bounds the store write of one machines report.
const linksWriteTimeout = 5 * time.Second

// recordMachines is signaling's OnMachines: a gateway's report of the machines it reaches,
// recorded per change (device.Reports; the gateway's heartbeats never touch its machines'
// rows), its tagged machines then offered for adoption.
func (r *Relay) recordMachines(ctx context.Context, claims auth.Claims, conn string, m wire.Machines) {
	if claims.Tenant == "" {
		return
	}
	rep := device.Report{Reset: m.Reset, More: m.More, Down: m.Down, Up: make([]device.Discovered, len(m.Up))}
	for i, u := range m.Up {
		rep.Up[i] = device.Discovered{Target: u.Target, Name: u.Name, Tags: u.Tags}
	}
	ctx, cancel := context.WithTimeout(ctx, linksWriteTimeout)
	defer cancel()
	if err := r.devices.reports.Record(ctx, claims.Tenant, claims.Device, conn, rep); err != nil {
		r.log.Warn("record a gateway's machine links; its next connection reports them again", "gateway", claims.Device, "err", err)
	}
	r.adopter.offer(claims.Tenant, claims.Device, rep.Up)
}

// recordHeartbeat is signaling's OnHeartbeat: it cleans the agent's report (hostile text:
// capped, control characters stripped) and records it as the device's last sighting. Agents
// authenticated by a JWT agent token (the demo) have no organization and are not in the store.
func (r *Relay) recordHeartbeat(ctx context.Context, claims auth.Claims, hb wire.Heartbeat) {
	if claims.Tenant == "" {
		return
	}
	now, ok := r.devices.beats.allow(claims.Device)
	if !ok {
		return
	}
	version := device.CleanText(hb.Version, device.MaxVersionLen)
	c := device.Capabilities{Sources: hb.Sources, Sizes: hb.Sizes, Codecs: hb.Codecs}
	if sig := hb.Signal; sig != nil {
		c.Signal = &device.Signal{Source: sig.Source, State: sig.State, Error: sig.Error, Since: sig.Since}
	}
	caps := device.EncodeCapabilities(c)
	ctx, cancel := context.WithTimeout(ctx, beatWriteTimeout)
	defer cancel()
	err := r.store.Write(ctx, claims.Tenant, func(tx store.Tx) error {
		return tx.DeviceSeen(ctx, claims.Device, now, version, caps)
	})
	if err != nil {
		r.log.Warn("record heartbeat", "device", claims.Device, "err", err)
	}
}
