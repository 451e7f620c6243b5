package recordings

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
)

// Plan is what Begin decided for a session.
type Plan struct {
	// Record: write the stream (recording.New with Dir, ID, CaptureKeys).
	Record bool
	// Required: the organization requires recording; when the recording fails the session
	// ends (Fail, then end it with the reason).
	Required bool
	// ID names the recording (its catalogue id and file names); Dir is where to write it.
	ID, Dir     string
	CaptureKeys bool
}

// Begin decides whether sessionID of orgID is recorded, by the organization's policy: off
// records nothing; on and required check that the recordings directory takes a file
// (recording.Probe), then catalogue the recording (state recording) and audit
// recording_start. Under on, a directory that cannot be written is audited
// (recording_fail) and the session goes on unrecorded; under required it is a *Refusal
// (ErrRefused) whose sentence the console shows, and the session must not start.
func (s *Service) Begin(ctx context.Context, orgID, sessionID string) (Plan, error) {
	var sess store.ConsoleSession
	var org store.Organization
	err := s.st.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		if org, err = tx.Organization(ctx); err != nil {
			return err
		}
		sess, err = tx.Session(ctx, sessionID)
		return err
	})
	if err != nil {
		return Plan{}, fmt.Errorf("recordings: begin %s: %w", sessionID, notFound(err))
	}
	policy := org.Settings.Recording
	if !records(policy) {
		return Plan{}, nil
	}
	plan := Plan{Required: policy == store.RecordingRequired, ID: store.NewID(), Dir: s.orgDir(orgID),
		CaptureKeys: org.Settings.RecordingKeys}
	if perr := recording.Probe(plan.Dir); perr != nil {
		return s.cannotRecord(ctx, orgID, sess, plan, perr)
	}
	err = s.st.Write(ctx, orgID, func(tx store.Tx) error {
		r, err := tx.CreateRecording(ctx, store.Recording{ID: plan.ID, SessionID: sess.ID, DeviceID: sess.DeviceID,
			StartedAt: s.now(), Path: relPath(orgID, plan.ID), CaptureKeys: plan.CaptureKeys})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, sess.Principal, store.AuditRecordingStart, r.ID, map[string]string{
			"session": sess.ID, "device": sess.DeviceID, "policy": string(policy),
			"capture_keys": strconv.FormatBool(plan.CaptureKeys), "path": r.Path,
		})
	})
	if err != nil {
		return s.cannotRecord(ctx, orgID, sess, plan, err)
	}
	plan.Record = true
	s.log.Info("recording begins", "org", orgID, "session", sess.ID, "recording", plan.ID, "required", plan.Required)
	return plan, nil
}

// cannotRecord answers a recording that cannot start: audited, then a refusal under
// required, or an unrecorded session under on.
func (s *Service) cannotRecord(ctx context.Context, orgID string, sess store.ConsoleSession, plan Plan, cause error) (Plan, error) {
	s.log.Warn("recording cannot start", "org", orgID, "session", sess.ID, "required", plan.Required, "err", cause)
	aerr := s.st.Write(ctx, orgID, func(tx store.Tx) error {
		return s.audit(ctx, tx, sess.Principal, store.AuditRecordingFail, plan.ID, map[string]string{
			"session": sess.ID, "device": sess.DeviceID, "stage": "start", "required": strconv.FormatBool(plan.Required),
			"error": truncate(cause.Error(), 300),
		})
	})
	if plan.Required {
		return Plan{Required: true}, &Refusal{Cause: fmt.Errorf("%w (audit: %v)", cause, aerr), Msg: "This organization requires " +
			"recording and the relay cannot write recordings now (" + truncate(cause.Error(), 200) + "): the session was not " +
			"started. Ask an administrator to check the relay's recordings storage."}
	}
	if aerr != nil {
		return Plan{}, fmt.Errorf("recordings: begin %s: %w", sess.ID, aerr)
	}
	return Plan{}, nil
}

// Finish catalogues a recording the relay closed (state complete) with what it took part
// in, and audits recording_end with both files' SHA-256, sizes and the duration: the chain's
// record is what Verify checks the files against.
func (s *Service) Finish(ctx context.Context, orgID, id string, sum recording.Summary, participants []store.Participant) (store.Recording, error) {
	var out store.Recording
	err := s.st.Write(ctx, orgID, func(tx store.Tx) error {
		r, err := tx.EndRecording(ctx, id, store.RecordingEnd{State: store.RecordingComplete, EndedAt: s.ended(sum),
			Duration: sum.Duration, Frames: int64(sum.Frames), Bytes: sum.Video.Size + sum.Timeline.Size,
			VideoSHA256: sum.Video.SHA256, TimelineSHA256: sum.Timeline.SHA256, Participants: participants})
		if err != nil {
			return err
		}
		out = r
		return s.audit(ctx, tx, "system", store.AuditRecordingEnd, id, map[string]string{
			"session": r.SessionID, "device": r.DeviceID,
			"video_sha256": sum.Video.SHA256, "timeline_sha256": sum.Timeline.SHA256,
			"video_bytes": strconv.FormatInt(sum.Video.Size, 10), "timeline_bytes": strconv.FormatInt(sum.Timeline.Size, 10),
			"duration_ms": strconv.FormatInt(sum.Duration.Milliseconds(), 10), "frames": strconv.Itoa(sum.Frames),
			"participants": strconv.Itoa(len(participants)),
		})
	})
	if err != nil {
		return store.Recording{}, fmt.Errorf("recordings: finish %s: %w", id, notFound(err))
	}
	return out, nil
}

// Fail marks a recording that could not be written (state failed) and audits
// recording_fail with the cause. For a required recording the relay then ends the session,
// with FailReason as the reason.
func (s *Service) Fail(ctx context.Context, orgID, id string, cause error) (store.Recording, error) {
	msg := "recording failed"
	if cause != nil {
		msg = truncate(cause.Error(), 500)
	}
	var out store.Recording
	err := s.st.Write(ctx, orgID, func(tx store.Tx) error {
		r, err := tx.EndRecording(ctx, id, store.RecordingEnd{State: store.RecordingFailed, EndedAt: s.now(), Error: msg})
		if err != nil {
			return err
		}
		out = r
		return s.audit(ctx, tx, "system", store.AuditRecordingFail, id, map[string]string{
			"session": r.SessionID, "device": r.DeviceID, "stage": "write", "error": msg,
		})
	})
	if err != nil {
		return store.Recording{}, fmt.Errorf("recordings: fail %s: %w", id, notFound(err))
	}
	return out, nil
}

// FailReason is the reason a session whose organization requires recording ends with when
// its recording fails.
func FailReason(cause error) string {
	return "This organization requires recording and the recording of this session could not be written (" +
		truncate(cause.Error(), 200) + "), so the session was ended."
}

// ended is the recording's end: the recorder's, or now when it has none.
func (s *Service) ended(sum recording.Summary) time.Time {
	if sum.Ended.IsZero() {
		return s.now()
	}
	return sum.Ended
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// records reports whether a policy records sessions.
func records(p store.RecordingPolicy) bool { return p != "" && p != store.RecordingOff }

// CapturesKeys reports whether orgID records its sessions with their keys (a recording
// policy and full keystroke capture on): signaling then asks the agent for a session's keys,
// which Begin's plan (CaptureKeys) lets into the recording.
func (s *Service) CapturesKeys(ctx context.Context, orgID string) (bool, error) {
	var org store.Organization
	err := s.st.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		org, err = tx.Organization(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("recordings: key capture of %s: %w", orgID, notFound(err))
	}
	return records(org.Settings.Recording) && org.Settings.RecordingKeys, nil
}
