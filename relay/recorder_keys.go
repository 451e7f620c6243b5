package relay

import (
	"context"
	"time"

	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Full keystroke capture: the keys typed in a recorded session go to its recording's
// timeline when the organization captures them (store.OrgSettings.RecordingKeys, audited
// when changed), and nowhere else: not the audit chain (which has each burst's digest, the
// keys can be checked against it: hid.DigestKeys), not a log line (what is logged is a
// count).

// KeysTyped is signaling's KeyRecorder: the keys the controller info typed go to its
// device's recording when the recording captures keys (its plan, decided when it began),
// here or on the node recording the device (forwarded over the bus, never logged);
// otherwise they are dropped, logged at debug as a count. Keys that come while the
// recording is starting wait with its other events (dropped then if its plan does not
// capture keys).
func (r *sessionRecorder) KeysTyped(_ context.Context, info signaling.SessionInfo, k wire.Keys) {
	m := localMessage(signaling.RecordingKeys, info)
	m.Keys = &k
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.live[info.Device]
	if d == nil {
		if r.svc == nil {
			r.dropKeys(info, len(k.Strokes), "the device has no recording on this node")
			return
		}
		r.forwardLocked(info.Device, m)
		return
	}
	if a := d.cur; a != nil && isReady(a) && (a.rec == nil || !a.plan.CaptureKeys) {
		r.dropKeys(info, len(k.Strokes), "the device's recording does not capture keys")
		return
	}
	r.applyLocked(d, m)
}

// dropKeys logs keys not recorded: how many, never which.
func (r *sessionRecorder) dropKeys(info signaling.SessionInfo, n int, why string) {
	r.log.Debug("keys not recorded", "device", info.Device, "sid", info.SID, "count", n, "why", why)
}

// keyEvents turns a batch into timeline events: one per instant, its strokes in order. The
// agent's times place the strokes relative to each other; the relay's clock (now, when the
// batch came) places the batch, as it does every other event of the timeline, so an agent
// whose clock is off does not move keys away from the picture they changed.
func keyEvents(sid string, k wire.Keys, now time.Time) []timedEvent {
	if len(k.Strokes) == 0 {
		return nil
	}
	last := k.Strokes[len(k.Strokes)-1].T
	var out []timedEvent
	for i, s := range k.Strokes {
		stroke := recording.KeyStroke{Usage: s.Usage, Down: s.Down}
		if i > 0 && s.T == k.Strokes[i-1].T {
			e := &out[len(out)-1].e
			e.Keys = append(e.Keys, stroke)
			continue
		}
		at := now.Add(-time.Duration(last-s.T) * time.Millisecond)
		out = append(out, timedEvent{at: at, e: recording.Event{Kind: recording.KindKeys, SID: sid, Keys: []recording.KeyStroke{stroke}}})
	}
	return out
}

// timedEvent is a timeline event and when it happened.
type timedEvent struct {
	at time.Time
	e  recording.Event
}
