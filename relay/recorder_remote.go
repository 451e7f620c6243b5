package relay

import (
	"context"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// One recording per device across nodes (sessionRecorder): each node with consoles of a
// device runs its loop (run), which decides every snapshot interval who records (leads),
// forwards this node's events and snapshot while another node records (or none does), and
// on the recording node takes the other nodes' in.

// recorderBus carries recording messages between nodes (*signaling.Server).
type recorderBus interface {
	PublishRecording(ctx context.Context, device string, m signaling.RecordingMessage) error
	SubscribeRecording(ctx context.Context, device string) (<-chan []byte, error)
}

// outMessage is a message this node forwards to the recorder of device.
type outMessage struct {
	device string
	m      signaling.RecordingMessage
}

// outQueue bounds the messages waiting to be forwarded; beyond it they are dropped (the
// snapshots repair the participants; a dropped event is logged).
const outQueue = 1024

// leads reports whether this node (self) records a device whose stream holder is holder:
// when it holds the stream, or nobody does (it then takes the lease by receiving it).
func leads(self, holder string) bool { return holder == "" || holder == self }

// publish sends the queued messages until the recorder closes.
func (r *sessionRecorder) publish() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case o := <-r.out:
			ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
			if err := r.bus.PublishRecording(ctx, o.device, o.m); err != nil {
				r.log.Debug("recording message not forwarded", "device", o.device, "kind", o.m.Kind, "err", err)
			}
			cancel()
		}
	}
}

// forwardLocked queues m for the device's recorder on another node. Keys are only counted
// in a log line, never shown.
func (r *sessionRecorder) forwardLocked(device string, m signaling.RecordingMessage) {
	if r.bus == nil {
		if m.Kind == signaling.RecordingKeys {
			r.dropKeys(signaling.SessionInfo{Device: device, SID: m.Console.SID}, len(m.Keys.Strokes), "the device has no recording on this node")
		}
		return
	}
	select {
	case r.out <- outMessage{device: device, m: m}:
	default:
		r.log.Warn("recording message dropped: the forwarding queue is full", "device", device, "kind", m.Kind)
	}
}

// run is a device's loop on this node: it receives the other nodes' messages and, every
// snapshot interval, steps (step) until the device's consoles are gone (endLocked).
func (r *sessionRecorder) run(ctx context.Context, d *deviceRecording) {
	sub := r.subscribe(ctx, d)
	tick := time.NewTicker(signaling.RecordingSnapshotEvery)
	defer tick.Stop()
	r.step(ctx, d)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if sub == nil {
				sub = r.subscribe(ctx, d)
			}
			r.step(ctx, d)
		case raw, ok := <-sub:
			if !ok {
				sub = nil // cut (the bus reconnected): subscribed again at the next tick
				continue
			}
			m, err := signaling.DecodeRecording(raw)
			if err != nil || m.Node == r.node() || m.Tenant != d.org {
				continue
			}
			r.mu.Lock()
			if r.live[d.machine.Device] == d {
				r.remoteLocked(d, m)
			}
			r.mu.Unlock()
		}
	}
}

// subscribe receives the other nodes' messages for the device; nil without a bus or on error.
func (r *sessionRecorder) subscribe(ctx context.Context, d *deviceRecording) <-chan []byte {
	if r.bus == nil {
		return nil
	}
	sub, err := r.bus.SubscribeRecording(ctx, d.machine.Device)
	if err != nil {
		r.log.Warn("other nodes' consoles of the device not followed", "device", d.machine.Device, "err", err)
		return nil
	}
	return sub
}

// step forgets nodes that stopped reporting, ends the device when no console remains,
// forwards this node's snapshot while it does not record, finishes its recording when the
// stream's lease moved away, and starts one when this node leads.
func (r *sessionRecorder) step(ctx context.Context, d *deviceRecording) {
	r.mu.Lock()
	if r.live[d.machine.Device] != d {
		r.mu.Unlock()
		return
	}
	now := time.Now()
	for node, rc := range d.remote {
		if now.Sub(rc.seen) > remoteStale {
			r.remoteLocked(d, signaling.RecordingMessage{Kind: signaling.RecordingSnapshot, Node: node, Tenant: d.org, At: now})
			delete(d.remote, node)
		}
	}
	if r.endIfIdleLocked(d) {
		r.mu.Unlock()
		return
	}
	a := d.cur
	recordingHere := a != nil && isReady(a) && a.rec != nil
	lead := a == nil && !d.decided && len(d.consoles) > 0
	if a == nil {
		r.forwardLocked(d.machine.Device, snapshotLocked(d))
	}
	r.mu.Unlock()

	if recordingHere {
		if r.streams.Holding(d.machine) {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if d.cur == a {
			d.cur = nil
			r.wg.Go(func() { r.finishAttempt(d, a, "the device's stream lease moved to another node") })
			r.endIfIdleLocked(d)
		}
		return
	}
	if !lead {
		return
	}
	holder, err := r.streams.Holder(ctx, d.machine)
	if err != nil {
		r.log.Debug("who records the device is unknown", "device", d.machine.Device, "err", err)
		return
	}
	if !leads(r.node(), holder) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.cur != nil || d.decided || r.live[d.machine.Device] != d || ctx.Err() != nil || len(d.consoles) == 0 {
		return
	}
	a = newAttemptLocked(d)
	var sid string
	for s := range d.consoles {
		sid = s
		break
	}
	r.wg.Go(func() { r.begin(d, a, sid) })
}

// newAttemptLocked starts d's recording here, its timeline opening with every console of the
// device, this node's and the others'.
func newAttemptLocked(d *deviceRecording) *recordingAttempt {
	a := &recordingAttempt{known: map[string]string{}, participants: map[string]store.Participant{},
		ready: make(chan struct{}), done: make(chan struct{})}
	for _, info := range d.consoles {
		a.pending = append(a.pending, localMessage(signaling.RecordingJoined, info))
	}
	now := time.Now()
	for node, rc := range d.remote {
		for _, c := range rc.consoles {
			a.pending = append(a.pending, signaling.RecordingMessage{Kind: signaling.RecordingJoined, Node: node, Tenant: d.org, At: now, Console: &c})
		}
	}
	d.cur = a
	return a
}

func isReady(a *recordingAttempt) bool {
	select {
	case <-a.ready:
		return true
	default:
		return false
	}
}

// snapshotLocked is this node's consoles of d.
func snapshotLocked(d *deviceRecording) signaling.RecordingMessage {
	m := signaling.RecordingMessage{Kind: signaling.RecordingSnapshot, Tenant: d.org, At: time.Now(), Agent: d.machine.Agent, Target: d.machine.Target}
	for _, info := range d.consoles {
		m.Consoles = append(m.Consoles, signaling.RecordingConsole{SID: info.SID, Name: info.Name, Principal: info.Principal, Grant: info.Grant})
	}
	return m
}

// endIfIdleLocked ends d when it has no console left: here, or, while this node records it
// (or starts to), anywhere.
func (r *sessionRecorder) endIfIdleLocked(d *deviceRecording) bool {
	if len(d.consoles) > 0 {
		return false
	}
	if d.cur != nil {
		for _, rc := range d.remote {
			if len(rc.consoles) > 0 {
				return false
			}
		}
	}
	r.endLocked(d, "the device's last console left")
	return true
}

// endLocked forgets d: its loop stops, its recording here is finished; a node that forwarded
// tells the recorder it has no console left.
func (r *sessionRecorder) endLocked(d *deviceRecording, why string) {
	if r.live[d.machine.Device] == d {
		delete(r.live, d.machine.Device)
	}
	d.stop()
	if a := d.cur; a != nil {
		d.cur = nil
		r.wg.Go(func() { r.finishAttempt(d, a, why) })
		return
	}
	if len(d.consoles) == 0 {
		r.forwardLocked(d.machine.Device, snapshotLocked(d))
	}
}

// applyLocked takes an event of this node's: onto the recording here (kept until it is
// ready), or to the node recording the device.
func (r *sessionRecorder) applyLocked(d *deviceRecording, m signaling.RecordingMessage) {
	a := d.cur
	switch {
	case a == nil:
		r.forwardLocked(d.machine.Device, m)
	case !isReady(a):
		a.pending = append(a.pending, m)
	default:
		r.writeLocked(d, a, m)
	}
}

// remoteLocked takes another node's message: its consoles, and the recording's timeline when
// this node records.
func (r *sessionRecorder) remoteLocked(d *deviceRecording, m signaling.RecordingMessage) {
	rc := d.remote[m.Node]
	if rc == nil {
		rc = &remoteConsoles{consoles: map[string]signaling.RecordingConsole{}}
		d.remote[m.Node] = rc
	}
	switch m.Kind {
	case signaling.RecordingJoined:
		if m.Console != nil {
			rc.consoles[m.Console.SID] = *m.Console
		}
		rc.seen = time.Now()
	case signaling.RecordingLeft:
		if m.Console != nil {
			delete(rc.consoles, m.Console.SID)
		}
	case signaling.RecordingSnapshot:
		rc.consoles = map[string]signaling.RecordingConsole{}
		for _, c := range m.Consoles {
			rc.consoles[c.SID] = c
		}
		rc.seen = time.Now()
	}
	if a := d.cur; a != nil {
		if !isReady(a) {
			a.pending = append(a.pending, m)
		} else {
			r.writeLocked(d, a, m)
		}
		r.endIfIdleLocked(d)
	}
}

// writeLocked puts a message's events on a's timeline (a ready): joins and leaves once per
// session (a snapshot joins the sessions the timeline lacks and leaves those its node lost),
// keys only when the recording captures them.
func (r *sessionRecorder) writeLocked(d *deviceRecording, a *recordingAttempt, m signaling.RecordingMessage) {
	if a.rec == nil {
		return
	}
	add := func(at time.Time, e recording.Event) {
		if err := a.rec.AddEvent(at, e); err != nil {
			r.log.Warn("recording timeline event not written", "device", d.machine.Device, "kind", e.Kind, "err", err)
		}
	}
	join := func(c signaling.RecordingConsole) {
		if _, ok := a.known[c.SID]; ok {
			return
		}
		a.known[c.SID] = m.Node
		key := c.Principal
		if key == "" {
			key = c.SID
		}
		a.participants[key] = store.Participant{Name: c.Name, Principal: c.Principal, Grant: string(c.Grant)}
		add(m.At, recording.Event{Kind: recording.KindJoined, SID: c.SID, Name: c.Name, Grant: c.Grant})
	}
	leave := func(c signaling.RecordingConsole) {
		if _, ok := a.known[c.SID]; !ok {
			return
		}
		delete(a.known, c.SID)
		add(m.At, recording.Event{Kind: recording.KindLeft, SID: c.SID, Name: c.Name, Grant: c.Grant})
	}
	switch m.Kind {
	case signaling.RecordingJoined:
		if m.Console != nil {
			join(*m.Console)
		}
	case signaling.RecordingLeft:
		if m.Console != nil {
			leave(*m.Console)
		}
	case signaling.RecordingSnapshot:
		in := map[string]bool{}
		for _, c := range m.Consoles {
			in[c.SID] = true
			join(c)
		}
		for sid, node := range a.known {
			if node == m.Node && !in[sid] {
				leave(signaling.RecordingConsole{SID: sid})
			}
		}
	case signaling.RecordingControl:
		if m.Control != nil {
			add(m.At, recording.Event{Kind: recording.KindControl, Control: m.Control})
		}
	case signaling.RecordingInput:
		if m.Burst != nil && m.Console != nil {
			add(m.At, recording.Event{Kind: recording.KindInputBurst, SID: m.Console.SID, Burst: m.Burst})
		}
	case signaling.RecordingKeys:
		if m.Keys == nil || m.Console == nil {
			return
		}
		if !a.plan.CaptureKeys {
			r.dropKeys(signaling.SessionInfo{Device: d.machine.Device, SID: m.Console.SID}, len(m.Keys.Strokes), "the recording does not capture keys")
			return
		}
		for _, e := range keyEvents(m.Console.SID, *m.Keys, m.At) {
			add(e.at, e.e)
		}
	}
}
