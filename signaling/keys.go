package signaling

import (
	"context"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Full keystroke capture: an organization that records its sessions may have the keys typed
// in them recorded too (off by default: passwords are typed at BIOS prompts). Signaling asks
// the control plane at each join whether the console's organization does, tells the agent
// (wire.SessionStart.CaptureKeys), and hands the keys the agent reports (`keys`) to the
// recorder. Keys never reach the audit chain, the metrics' labels or a log line: what is
// logged of a batch is its sid and size.

// KeyCapture is the control plane's say over full keystroke capture.
type KeyCapture interface {
	// CapturesKeys reports whether the organization tenant records its console sessions
	// with the keys typed in them (recording on or required, and keystroke capture on).
	CapturesKeys(ctx context.Context, tenant string) (bool, error)
}

// KeyRecorder receives the keys an agent reports for a console session of its machine that
// holds control (info, checked to be the agent's), for the device's recording.
type KeyRecorder interface {
	KeysTyped(ctx context.Context, info SessionInfo, k wire.Keys)
}

// captureTimeout bounds asking the control plane whether a session's keys are captured.
const captureTimeout = 2 * time.Second

// capturesKeys reports whether the agent is to report info's keys: only for control-plane
// sessions of an organization that captures them. A failed lookup captures nothing (the
// keys are the sensitive part): it is logged, and the next join asks again.
func (s *Server) capturesKeys(ctx context.Context, log *slog.Logger, info SessionInfo) bool {
	if info.Tenant == "" || s.cfg.KeyCapture == nil || s.cfg.Keys == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, captureTimeout)
	defer cancel()
	on, err := s.cfg.KeyCapture.CapturesKeys(ctx, info.Tenant)
	if err != nil {
		log.Warn("keystroke capture policy unknown; this session's keys are not captured", "err", err)
		return false
	}
	return on
}

// keysReported hands an agent's keys batch for info (the session that held control) to the
// recorder, within the session's keys budget.
func (s *Server) keysReported(ctx context.Context, log *slog.Logger, reports *reportBudget, info SessionInfo, env wire.Envelope, k wire.Keys) bool {
	if err := k.Check(); err != nil {
		return s.dropReport(log, env, err)
	}
	if !reports.allowKeys(env.SID) {
		return s.reportThrottled(log, reports, env)
	}
	s.metrics.Messages.WithLabelValues("agent", string(env.Type), "ok").Inc()
	if k.Dropped > 0 {
		log.Warn("the agent could not report some keys of a session with keystroke capture", "sid", env.SID, "dropped", k.Dropped)
	}
	if info.Tenant == "" || s.cfg.Keys == nil {
		return true
	}
	s.cfg.Keys.KeysTyped(ctx, info, k)
	return true
}
