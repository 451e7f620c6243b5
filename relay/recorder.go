package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/relay/fanout"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// sessionRecorder records, when its organization's policy asks for it, what a device's
// consoles on this node watch together: from the first console joining to the last leaving,
// one recording of the stream as the agent sends it (received once through the fan-out hub,
// written without re-encoding) with the participants, control and input timeline. It sits in
// front of the control auditor, which still audits every event.
//
// Several nodes: each node records the consoles it holds; a device watched from two nodes has
// a recording per node, each with its own node's participants (control and input reach the
// node that holds the agent's connection). The stream itself is received once for the whole
// deployment (fanout: the node holding the device's lease receives it from the agent, a
// recording on another node gets it over a node link), so a second recording costs the agent
// nothing. One recording per device across nodes, written by the holding node with every
// node's timeline, is to come.
type sessionRecorder struct {
	audit controlAuditor
	log   *slog.Logger

	// Set by start, before any console connects.
	hub      *fanout.Hub
	svc      *recordings.Service
	sessions *sessions.Manager

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	live map[string]*deviceRecording // by device id
}

// deviceRecording is one device's recording on this node, from its first console to its last.
type deviceRecording struct {
	org     string
	machine fanout.Machine
	// consoles are the device's console sessions connected to this node; participants
	// everyone who took part, for the catalogue.
	consoles     map[string]signaling.SessionInfo
	participants map[string]store.Participant
	// pending holds timeline events that came before the recorder was ready.
	pending []timedEvent

	// Set once begin is done: plan, and rec/att/release when recording.
	plan    recordings.Plan
	rec     *recording.Recorder
	att     *recording.Attachment
	release func()
	failed  bool
	ready   chan struct{}
	// done is closed by finish: the recording is over and nothing watches it any more.
	done chan struct{}
}

type timedEvent struct {
	at time.Time
	e  recording.Event
}

// acquireTimeout bounds waiting for a device's stream when a recording starts.
const acquireTimeout = 20 * time.Second

func newSessionRecorder(audit controlAuditor, log *slog.Logger) *sessionRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	return &sessionRecorder{audit: audit, log: log, ctx: ctx, cancel: cancel, live: map[string]*deviceRecording{}}
}

// start wires the parts that exist only after signaling: without a service nothing is recorded.
func (r *sessionRecorder) start(hub *fanout.Hub, svc *recordings.Service, mgr *sessions.Manager) {
	r.mu.Lock()
	r.hub, r.svc, r.sessions = hub, svc, mgr
	r.mu.Unlock()
}

// close finishes every recording in progress (their files closed and catalogued) and waits.
func (r *sessionRecorder) close() {
	// Cancelled first: a recording still starting gives up; one running is closed below.
	r.cancel()
	r.mu.Lock()
	devices := r.live
	r.live = map[string]*deviceRecording{}
	r.mu.Unlock()
	for _, d := range devices {
		r.wg.Go(func() { r.finish(d, "the relay shut down") })
	}
	r.wg.Wait()
}

func (r *sessionRecorder) ConsoleJoined(ctx context.Context, info signaling.SessionInfo) error {
	err := r.audit.ConsoleJoined(ctx, info)
	if info.Tenant == "" {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.svc == nil {
		return err
	}
	d := r.live[info.Device]
	if d == nil {
		d = &deviceRecording{org: info.Tenant, machine: fanout.Machine{Device: info.Device, Agent: info.Agent, Target: info.Target},
			consoles: map[string]signaling.SessionInfo{}, participants: map[string]store.Participant{}, ready: make(chan struct{}), done: make(chan struct{})}
		r.live[info.Device] = d
		r.wg.Go(func() { r.begin(d, info) })
	}
	d.consoles[info.SID] = info
	d.participants[info.Principal] = store.Participant{Name: info.Name, Principal: info.Principal, Grant: string(info.Grant)}
	r.addLocked(d, recording.Event{Kind: recording.KindJoined, SID: info.SID, Name: info.Name, Grant: info.Grant})
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
	r.addLocked(d, recording.Event{Kind: recording.KindLeft, SID: info.SID, Name: info.Name, Grant: info.Grant})
	if len(d.consoles) == 0 {
		delete(r.live, info.Device)
		r.wg.Go(func() { r.finish(d, "") })
	}
	return err
}

func (r *sessionRecorder) ControlMoved(ctx context.Context, subject, by signaling.SessionInfo, e wire.RosterEvent) error {
	err := r.audit.ControlMoved(ctx, subject, by, e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.live[subject.Device]; d != nil {
		r.addLocked(d, recording.Event{Kind: recording.KindControl, Control: &e})
	}
	return err
}

func (r *sessionRecorder) InputSent(ctx context.Context, info signaling.SessionInfo, b wire.InputBurst) error {
	err := r.audit.InputSent(ctx, info, b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.live[info.Device]; d != nil {
		r.addLocked(d, recording.Event{Kind: recording.KindInputBurst, SID: info.SID, Burst: &b})
	}
	return err
}

// addLocked puts an event on d's timeline, or keeps it until the recorder is ready.
func (r *sessionRecorder) addLocked(d *deviceRecording, e recording.Event) {
	select {
	case <-d.ready:
		if d.rec != nil {
			if err := d.rec.AddEvent(time.Now(), e); err != nil {
				r.log.Warn("recording timeline event not written", "device", d.machine.Device, "kind", e.Kind, "err", err)
			}
		}
	default:
		d.pending = append(d.pending, timedEvent{at: time.Now(), e: e})
	}
}

// begin asks the control plane whether to record, and starts the recording: the device's
// stream from the hub, a recorder attached to it. A refusal under the "required" policy ends
// the session that asked, with the sentence; a failure later ends every console of the device.
func (r *sessionRecorder) begin(d *deviceRecording, first signaling.SessionInfo) {
	log := r.log.With("org", d.org, "device", d.machine.Device)
	plan, err := r.svc.Begin(r.ctx, d.org, first.SID)
	var refusal *recordings.Refusal
	switch {
	case errors.As(err, &refusal):
		log.Warn("session refused: the organization requires recording and it cannot be written", "sid", first.SID, "err", err)
		r.markReady(d, recordings.Plan{Required: true}, nil, nil, nil, true)
		r.stopDevice(d, refusal.Msg)
		return
	case err != nil:
		log.Error("recording policy unknown; the session goes on unrecorded", "err", err)
		r.markReady(d, recordings.Plan{}, nil, nil, nil, false)
		return
	case !plan.Record:
		r.markReady(d, plan, nil, nil, nil, false)
		return
	}
	rec, att, release, err := r.open(d, plan)
	if err != nil {
		log.Warn("recording could not start", "recording", plan.ID, "err", err)
		r.markReady(d, plan, nil, nil, nil, true)
		r.failed(d, plan, err)
		return
	}
	r.markReady(d, plan, rec, att, release, false)
	log.Info("recording", "recording", plan.ID, "capture_keys", plan.CaptureKeys)
	select {
	case <-rec.Failed():
		r.failed(d, plan, rec.Err())
	case <-r.ctx.Done():
	case <-d.done:
	}
}

// open receives the device's stream and attaches a new recorder to it.
func (r *sessionRecorder) open(d *deviceRecording, plan recordings.Plan) (*recording.Recorder, *recording.Attachment, func(), error) {
	ctx, cancel := context.WithTimeout(r.ctx, acquireTimeout)
	defer cancel()
	fwd, release, err := r.hub.Acquire(ctx, d.machine)
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

// markReady records begin's outcome and writes the events that waited for it.
func (r *sessionRecorder) markReady(d *deviceRecording, plan recordings.Plan, rec *recording.Recorder, att *recording.Attachment, release func(), failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.plan, d.rec, d.att, d.release, d.failed = plan, rec, att, release, failed
	close(d.ready)
	if rec != nil {
		for _, p := range d.pending {
			if p.e.Kind == recording.KindKeys && !plan.CaptureKeys {
				r.dropKeys(signaling.SessionInfo{Device: d.machine.Device, SID: p.e.SID}, len(p.e.Keys), "the recording does not capture keys")
				continue
			}
			if err := rec.AddEvent(p.at, p.e); err != nil {
				r.log.Warn("recording timeline event not written", "device", d.machine.Device, "kind", p.e.Kind, "err", err)
			}
		}
	}
	d.pending = nil
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

// stopDevice ends the device's console sessions on this node, with reason.
func (r *sessionRecorder) stopDevice(d *deviceRecording, reason string) {
	r.mu.Lock()
	sids := make(map[string]bool, len(d.consoles))
	for sid := range d.consoles {
		sids[sid] = true
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 10*time.Second)
	defer cancel()
	if _, err := r.sessions.StopDevice(ctx, d.org, d.machine.Device, "system", reason, func(s store.ConsoleSession) bool { return sids[s.ID] }); err != nil {
		r.log.Warn("end the sessions of a device whose required recording failed", "device", d.machine.Device, "err", err)
	}
}

// finish closes d's recording once its last console left (or the relay shuts down) and
// catalogues it with its SHA-256 in the audit chain.
func (r *sessionRecorder) finish(d *deviceRecording, why string) {
	defer close(d.done)
	<-d.ready
	r.mu.Lock()
	rec, att, release, plan, failed := d.rec, d.att, d.release, d.plan, d.failed
	participants := make([]store.Participant, 0, len(d.participants))
	for _, p := range d.participants {
		participants = append(participants, p)
	}
	r.mu.Unlock()
	if rec == nil {
		return
	}
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
		r.log.Info("recording finished", "recording", plan.ID, "frames", sum.Frames, "duration", sum.Duration, "bytes", sum.Video.Size, "why", why)
	}
}
