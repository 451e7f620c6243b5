package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/relay/fanout"
	"github.com/kvmrelay/kvmrelay/sfu"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// sessionRecorder records, when its organization's policy asks for it, what a device's
// consoles watch together: from the first console joining (on any node) to the last leaving,
// one recording of the stream as the agent sends it (received once through the fan-out hub,
// written without re-encoding) with the participants, control and input timeline. It sits in
// front of the control auditor, which still audits every event.
//
// Several nodes: one recording per device across nodes, written by the node that holds the
// device's stream lease (fanout.Hub.Holder; a node whose first console finds no holder
// asks the policy and, recording, takes the lease by receiving the stream). Every other
// node forwards what it sees of the device to it over the bus (recorder_remote.go,
// signaling.RecordingMessage): its consoles joining and leaving, and where the agent's
// connection is, control events, input bursts and keys, each with its time; and every two
// seconds a snapshot of its consoles, so the recorder records while any node has consoles of
// the device and learns the participants when it took over. When the lease moves (its holder
// died or lost Redis), the new holder starts a new recording; the old holder, if alive,
// finishes its own (a crashed node's file is left to the retention sweep). The policy is read
// once per device session, by the node that would record (a node that forwards never asks).
type sessionRecorder struct {
	audit signaling.ControlAuditor
	log   *slog.Logger

	// Set by start, before any console connects; nil svc: nothing is recorded.
	streams recorderStreams
	svc     recorderCatalogue
	stopper deviceStopper
	bus     recorderBus

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// out queues the messages this node forwards to other nodes' recorders (publisher).
	out chan outMessage

	mu   sync.Mutex
	live map[string]*deviceRecording // by device id
}

// recorderStreams is the fan-out hub as the recorder uses it (*fanout.Hub).
type recorderStreams interface {
	Acquire(ctx context.Context, m fanout.Machine) (*sfu.Forwarder, func(), error)
	Holder(ctx context.Context, m fanout.Machine) (string, error)
	Holding(m fanout.Machine) bool
	Node() string
}

// recorderCatalogue is the recordings service (*recordings.Service).
type recorderCatalogue interface {
	Begin(ctx context.Context, orgID, sessionID string) (recordings.Plan, error)
	Fail(ctx context.Context, orgID, id string, cause error) (store.Recording, error)
	Finish(ctx context.Context, orgID, id string, sum recording.Summary, participants []store.Participant) (store.Recording, error)
}

// deviceStopper ends a device's console sessions on every node (*sessions.Manager).
type deviceStopper interface {
	StopDevice(ctx context.Context, orgID, deviceID, actor, reason string, only func(store.ConsoleSession) bool) (int, error)
}

// deviceRecording is a device on this node while it has consoles here (or, on the node
// recording it, while any node has).
type deviceRecording struct {
	org     string
	machine fanout.Machine
	// consoles are the device's console sessions connected to this node; remote the other
	// nodes', by node, from their snapshots and events.
	consoles map[string]signaling.SessionInfo
	remote   map[string]*remoteConsoles
	// cur is this node's recording attempt (starting, recording, or refused), nil while
	// another node records (or none does) and this node forwards.
	cur *recordingAttempt
	// decided: this device session's policy lookup gave no recording (off, refused, failed
	// to start): the policy is not asked again until the device's consoles are gone.
	decided bool
	// refused is why the device's consoles were ended under "required" (its recording was
	// refused or failed): a console joining before the last of them is gone is ended too.
	refused string
	// stop ends the device's run loop.
	stop context.CancelFunc
}

// remoteConsoles are another node's consoles of a device, as last reported.
type remoteConsoles struct {
	consoles map[string]signaling.RecordingConsole
	seen     time.Time
}

// recordingAttempt is one recording of a device by this node: begun, then written until the
// device's last console anywhere leaves, the lease moves, or writing fails.
type recordingAttempt struct {
	// pending holds the timeline's messages that came before the recorder was ready.
	pending []signaling.RecordingMessage
	// known are the sessions on the timeline now (joined, not left), with their node.
	known        map[string]string
	participants map[string]store.Participant

	// Set once begin is done: plan, and rec/att/release when recording.
	plan    recordings.Plan
	rec     *recording.Recorder
	att     *recording.Attachment
	release func()
	failed  bool
	ready   chan struct{}
	// done is closed by finishAttempt: the recording is over and nothing watches it.
	done chan struct{}
}

// acquireTimeout bounds waiting for a device's stream when a recording starts.
const acquireTimeout = 20 * time.Second

// remoteStale is how long a node's snapshot counts: three snapshots missed and its consoles
// are gone (the node died or lost the bus).
const remoteStale = 3 * signaling.RecordingSnapshotEvery

// errSuperseded fails a recording begun by a node that then found another holding the stream.
var errSuperseded = errors.New("another relay node holds the device's stream and records it")

func newSessionRecorder(audit signaling.ControlAuditor, log *slog.Logger) *sessionRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	return &sessionRecorder{audit: audit, log: log, ctx: ctx, cancel: cancel, live: map[string]*deviceRecording{},
		out: make(chan outMessage, outQueue)}
}

// start wires the parts that exist only after signaling: without a service nothing is
// recorded; without a bus (tests) nothing is forwarded.
func (r *sessionRecorder) start(streams recorderStreams, svc *recordings.Service, stopper deviceStopper, bus recorderBus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams, r.stopper, r.bus = streams, stopper, bus
	if svc != nil {
		r.svc = svc
	}
	if bus != nil {
		r.wg.Go(r.publish)
	}
}

// close finishes every recording in progress (their files closed and catalogued) and waits.
func (r *sessionRecorder) close() {
	// Cancelled first: a recording still starting gives up; one running is closed below.
	r.cancel()
	r.mu.Lock()
	for _, d := range r.live {
		r.endLocked(d, "the relay shut down")
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// node is this node's id in stream leases ("" alone).
func (r *sessionRecorder) node() string {
	if r.streams == nil {
		return ""
	}
	return r.streams.Node()
}

func (r *sessionRecorder) ConsoleJoined(ctx context.Context, info signaling.SessionInfo) error {
	err := r.audit.ConsoleJoined(ctx, info)
	if info.Tenant == "" {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.svc == nil || r.ctx.Err() != nil {
		return err
	}
	d := r.live[info.Device]
	if d == nil {
		runCtx, stop := context.WithCancel(r.ctx)
		d = &deviceRecording{org: info.Tenant, machine: fanout.Machine{Device: info.Device, Agent: info.Agent, Target: info.Target},
			consoles: map[string]signaling.SessionInfo{}, remote: map[string]*remoteConsoles{}, stop: stop}
		r.live[info.Device] = d
		r.wg.Go(func() { r.run(runCtx, d) })
	}
	d.consoles[info.SID] = info
	r.applyLocked(d, localMessage(signaling.RecordingJoined, info))
	if reason := d.refused; reason != "" {
		r.wg.Go(func() { r.stopDevice(d, reason) })
	}
	return err
}

func (r *sessionRecorder) ConsoleLeft(ctx context.Context, info signaling.SessionInfo, reason string) error {
	err := r.audit.ConsoleLeft(ctx, info, reason)
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.live[info.Device]
	if d == nil {
		return err
	}
	if _, ok := d.consoles[info.SID]; !ok {
		return err
	}
	delete(d.consoles, info.SID)
	r.applyLocked(d, localMessage(signaling.RecordingLeft, info))
	r.endIfIdleLocked(d)
	return err
}

func (r *sessionRecorder) ControlMoved(ctx context.Context, subject, by signaling.SessionInfo, e wire.RosterEvent) error {
	err := r.audit.ControlMoved(ctx, subject, by, e)
	m := localMessage(signaling.RecordingControl, subject)
	m.Console, m.Control = nil, &e
	r.local(subject.Device, m)
	return err
}

func (r *sessionRecorder) InputSent(ctx context.Context, info signaling.SessionInfo, b wire.InputBurst) error {
	err := r.audit.InputSent(ctx, info, b)
	m := localMessage(signaling.RecordingInput, info)
	m.Burst = &b
	r.local(info.Device, m)
	return err
}

// localMessage is an event of this node's, now, about info.
func localMessage(kind string, info signaling.SessionInfo) signaling.RecordingMessage {
	return signaling.RecordingMessage{Kind: kind, Tenant: info.Tenant, At: time.Now(), Agent: info.Agent, Target: info.Target,
		Console: &signaling.RecordingConsole{SID: info.SID, Name: info.Name, Principal: info.Principal, Grant: info.Grant}}
}

// local takes an event this node saw (control, input, keys): onto the device's recording
// here, or to the node recording it. The agent's node may have no console of the device.
func (r *sessionRecorder) local(device string, m signaling.RecordingMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.live[device]; d != nil {
		r.applyLocked(d, m)
		return
	}
	if r.svc != nil {
		r.forwardLocked(device, m)
	}
}

// begin asks the control plane whether to record, and starts the recording: the device's
// stream from the hub (which makes this node the stream's holder), a recorder attached to
// it. A refusal under the "required" policy, or a failure later, ends every console of the
// device, on every node, with the sentence.
func (r *sessionRecorder) begin(d *deviceRecording, a *recordingAttempt, sid string) {
	log := r.log.With("org", d.org, "device", d.machine.Device)
	plan, err := r.svc.Begin(r.ctx, d.org, sid)
	var refusal *recordings.Refusal
	switch {
	case errors.As(err, &refusal):
		log.Warn("session refused: the organization requires recording and it cannot be written", "sid", sid, "err", err)
		r.markReady(d, a, recordings.Plan{Required: true}, nil, nil, nil, true)
		r.stopDevice(d, refusal.Msg)
		return
	case err != nil:
		log.Error("recording policy unknown; the session goes on unrecorded", "err", err)
		r.markReady(d, a, recordings.Plan{}, nil, nil, nil, false)
		return
	case !plan.Record:
		r.markReady(d, a, plan, nil, nil, nil, false)
		return
	}
	rec, att, release, err := r.open(d, plan)
	if err != nil {
		log.Warn("recording could not start", "recording", plan.ID, "err", err)
		r.markReady(d, a, plan, nil, nil, nil, true)
		r.failed(d, plan, err)
		return
	}
	if !r.streams.Holding(d.machine) {
		// Another node took the lease between the look and the claim: it records.
		log.Info("another node records the device", "recording", plan.ID)
		att.Close()
		_, _ = rec.Close()
		release()
		if _, ferr := r.svc.Fail(context.WithoutCancel(r.ctx), d.org, plan.ID, errSuperseded); ferr != nil {
			log.Warn("catalogue a superseded recording", "recording", plan.ID, "err", ferr)
		}
		r.markReady(d, a, recordings.Plan{}, nil, nil, nil, false)
		r.mu.Lock()
		d.decided = false // the holder may change again: this node may record then
		r.mu.Unlock()
		return
	}
	r.markReady(d, a, plan, rec, att, release, false)
	log.Info("recording", "recording", plan.ID, "capture_keys", plan.CaptureKeys)
	select {
	case <-rec.Failed():
		r.failed(d, plan, rec.Err())
	case <-r.ctx.Done():
	case <-a.done:
	}
}

// open receives the device's stream and attaches a new recorder to it.
func (r *sessionRecorder) open(d *deviceRecording, plan recordings.Plan) (*recording.Recorder, *recording.Attachment, func(), error) {
	ctx, cancel := context.WithTimeout(r.ctx, acquireTimeout)
	defer cancel()
	fwd, release, err := r.streams.Acquire(ctx, d.machine)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the device's stream did not reach the relay: %w", err)
	}
	rec, err := recording.New(recording.Config{Dir: plan.Dir, ID: plan.ID, Codec: fwd.Codec().MimeType, CaptureKeys: plan.CaptureKeys})
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	att, err := recording.Attach(fwd, rec)
	if err != nil {
		_, _ = rec.Close()
		release()
		return nil, nil, nil, err
	}
	return rec, att, release, nil
}

// markReady records begin's outcome and writes the events that waited for it; an attempt
// that records nothing hands them to whichever node records, and this node forwards from now.
func (r *sessionRecorder) markReady(d *deviceRecording, a *recordingAttempt, plan recordings.Plan, rec *recording.Recorder, att *recording.Attachment, release func(), failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a.plan, a.rec, a.att, a.release, a.failed = plan, rec, att, release, failed
	close(a.ready)
	pending := a.pending
	a.pending = nil
	if rec != nil {
		for _, m := range pending {
			r.writeLocked(d, a, m)
		}
		return
	}
	// Not recording: the policy is not asked again this device session, unless another node
	// had the lease (then this node may take it over later).
	if plan.ID == "" || failed {
		d.decided = true
	}
	if d.cur == a {
		d.cur = nil
	}
	// Refused or failed attempts keep no events; otherwise they go to whichever node records.
	if !failed {
		for _, m := range pending {
			if m.Node == "" {
				r.forwardLocked(d.machine.Device, m)
			}
		}
	}
	close(a.done)
}

// failed catalogues a recording that could not be written; under "required" the device's
// consoles end with the reason.
func (r *sessionRecorder) failed(d *deviceRecording, plan recordings.Plan, cause error) {
	if _, err := r.svc.Fail(context.WithoutCancel(r.ctx), d.org, plan.ID, cause); err != nil {
		r.log.Warn("catalogue a failed recording", "recording", plan.ID, "err", err)
	}
	if plan.Required {
		r.stopDevice(d, recordings.FailReason(cause))
	}
}

// stopDevice ends the device's console sessions, on every node (the sessions manager stops
// them in the store and disconnects them wherever they are connected), with reason.
func (r *sessionRecorder) stopDevice(d *deviceRecording, reason string) {
	r.mu.Lock()
	d.refused = reason
	r.mu.Unlock()
	if r.stopper == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 10*time.Second)
	defer cancel()
	if _, err := r.stopper.StopDevice(ctx, d.org, d.machine.Device, "system", reason, nil); err != nil {
		r.log.Warn("end the sessions of a device whose required recording failed", "device", d.machine.Device, "err", err)
	}
}

// finishAttempt closes a's recording once the device's last console left (or the lease
// moved, or the relay shuts down) and catalogues it with its SHA-256 in the audit chain.
func (r *sessionRecorder) finishAttempt(d *deviceRecording, a *recordingAttempt, why string) {
	<-a.ready
	r.mu.Lock()
	rec, att, release, plan, failed := a.rec, a.att, a.release, a.plan, a.failed
	participants := make([]store.Participant, 0, len(a.participants))
	for _, p := range a.participants {
		participants = append(participants, p)
	}
	r.mu.Unlock()
	if rec == nil {
		return
	}
	defer close(a.done)
	att.Close()
	sum, err := rec.Close()
	release()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 10*time.Second)
	defer cancel()
	switch {
	case failed:
	case err != nil:
		if _, ferr := r.svc.Fail(ctx, d.org, plan.ID, err); ferr != nil {
			r.log.Warn("catalogue a failed recording", "recording", plan.ID, "err", ferr)
		}
	default:
		if _, ferr := r.svc.Finish(ctx, d.org, plan.ID, sum, participants); ferr != nil {
			r.log.Error("catalogue a finished recording", "recording", plan.ID, "err", ferr)
			return
		}
		r.log.Info("recording finished", "recording", plan.ID, "frames", sum.Frames, "duration", sum.Duration, "bytes", sum.Video.Size,
			"participants", len(participants), "why", why)
	}
}
