package sqlcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const recordingCols = `id, org_id, session_id, device_id, started_at, ended_at, duration_ms, frames, bytes,
	video_sha256, timeline_sha256, path, state, error, participants, capture_keys`

// defaultRecordingPage bounds a listing that names no limit; maxRecordingPage any listing.
const (
	defaultRecordingPage = 100
	maxRecordingPage     = 1000
)

func scanRecording(r Row) (store.Recording, error) {
	var rec store.Recording
	var started, ended timeCol
	var durMS int64
	var participants string
	err := r.Scan(&rec.ID, &rec.OrgID, &rec.SessionID, &rec.DeviceID, &started, &ended, &durMS, &rec.Frames, &rec.Bytes,
		&rec.VideoSHA256, &rec.TimelineSHA256, &rec.Path, &rec.State, &rec.Error, &participants, &rec.CaptureKeys)
	if err != nil {
		return rec, err
	}
	rec.StartedAt, rec.EndedAt, rec.Duration = started.T, ended.ptr(), time.Duration(durMS)*time.Millisecond
	if err := json.Unmarshal([]byte(participants), &rec.Participants); err != nil {
		return rec, fmt.Errorf("sqlcore: recording %s participants: %w", rec.ID, err)
	}
	return rec, nil
}

func encodeParticipants(ps []store.Participant) (string, error) {
	if ps == nil {
		ps = []store.Participant{}
	}
	b, err := json.Marshal(ps)
	if err != nil {
		return "", fmt.Errorf("sqlcore: participants: %w", err)
	}
	return string(b), nil
}

// CreateRecording stores a recording being written.
func (t *Tx) CreateRecording(ctx context.Context, r store.Recording) (store.Recording, error) {
	if err := fillID("recording", &r.ID); err != nil {
		return r, err
	}
	if err := checkID("session", r.SessionID); err != nil {
		return r, err
	}
	if err := checkID("device", r.DeviceID); err != nil {
		return r, err
	}
	if r.Path == "" {
		return r, fmt.Errorf("create recording: a path is required: %w", store.ErrInvalid)
	}
	r.OrgID, r.StartedAt, r.EndedAt, r.State = t.org, ts(r.StartedAt), nil, store.RecordingActive
	r.Duration, r.Frames, r.Bytes, r.VideoSHA256, r.TimelineSHA256, r.Error = 0, 0, 0, "", "", ""
	participants, err := encodeParticipants(r.Participants)
	if err != nil {
		return r, err
	}
	_, err = t.c.Exec(ctx, `INSERT INTO recordings (`+recordingCols+`)
		VALUES (?, ?, ?, ?, ?, NULL, 0, 0, 0, '', '', ?, ?, '', ?, ?)`,
		r.ID, t.org, r.SessionID, r.DeviceID, r.StartedAt, r.Path, string(r.State), participants, r.CaptureKeys)
	if err != nil {
		return r, fmt.Errorf("create recording %s: %w", r.ID, err)
	}
	if r.Participants == nil {
		r.Participants = []store.Participant{}
	}
	return r, nil
}

// Recording returns one recording of the organization.
func (t *Tx) Recording(ctx context.Context, id string) (store.Recording, error) {
	if err := checkID("recording", id); err != nil {
		return store.Recording{}, err
	}
	r, err := scanRecording(t.c.QueryRow(ctx, `SELECT `+recordingCols+` FROM recordings WHERE org_id = ? AND id = ?`, t.org, id))
	if err != nil {
		return r, fmt.Errorf("recording %s: %w", id, err)
	}
	return r, nil
}

// Recordings lists recordings, newest first.
func (t *Tx) Recordings(ctx context.Context, f store.RecordingFilter) ([]store.Recording, error) {
	q := `SELECT ` + recordingCols + ` FROM recordings WHERE org_id = ?`
	args := []any{t.org}
	if f.DeviceID != "" {
		if err := checkID("device", f.DeviceID); err != nil {
			return nil, err
		}
		q += ` AND device_id = ?`
		args = append(args, f.DeviceID)
	}
	if f.SessionID != "" {
		if err := checkID("session", f.SessionID); err != nil {
			return nil, err
		}
		q += ` AND session_id = ?`
		args = append(args, f.SessionID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultRecordingPage
	}
	if limit > maxRecordingPage || f.Offset < 0 {
		return nil, fmt.Errorf("recordings: limit %d offset %d: %w", f.Limit, f.Offset, store.ErrInvalid)
	}
	q += ` ORDER BY started_at DESC, id LIMIT ? OFFSET ?`
	args = append(args, limit, f.Offset)
	rows, err := t.c.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	return collect(rows, scanRecording, "recordings")
}

// EndRecording writes a recording's end, once (compare-and-set on the state).
func (t *Tx) EndRecording(ctx context.Context, id string, end store.RecordingEnd) (store.Recording, error) {
	if err := checkID("recording", id); err != nil {
		return store.Recording{}, err
	}
	if end.State != store.RecordingComplete && end.State != store.RecordingFailed {
		return store.Recording{}, fmt.Errorf("end recording %s: state %q: %w", id, end.State, store.ErrInvalid)
	}
	if end.Duration < 0 || end.Frames < 0 || end.Bytes < 0 {
		return store.Recording{}, fmt.Errorf("end recording %s: negative count: %w", id, store.ErrInvalid)
	}
	participants, err := encodeParticipants(end.Participants)
	if err != nil {
		return store.Recording{}, err
	}
	r, err := scanRecording(t.c.QueryRow(ctx, `UPDATE recordings SET state = ?, ended_at = ?, duration_ms = ?, frames = ?,
		bytes = ?, video_sha256 = ?, timeline_sha256 = ?, error = ?, participants = ?
		WHERE org_id = ? AND id = ? AND state = ? RETURNING `+recordingCols,
		string(end.State), ts(end.EndedAt), end.Duration.Milliseconds(), end.Frames, end.Bytes, end.VideoSHA256,
		end.TimelineSHA256, end.Error, participants, t.org, id, string(store.RecordingActive)))
	if err == nil {
		return r, nil
	}
	// No row: tell an unknown recording from one that already ended.
	if _, gerr := t.Recording(ctx, id); gerr != nil {
		return store.Recording{}, fmt.Errorf("end recording: %w", gerr)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Recording{}, fmt.Errorf("end recording %s: already ended: %w", id, store.ErrConflict)
	}
	return store.Recording{}, fmt.Errorf("end recording %s: %w", id, err)
}

// RecordingsBefore lists recordings that ended (or started, still being written) before
// cutoff, oldest first.
func (t *Tx) RecordingsBefore(ctx context.Context, cutoff time.Time, limit int) ([]store.Recording, error) {
	if limit <= 0 || limit > maxRecordingPage {
		limit = maxRecordingPage
	}
	rows, err := t.c.Query(ctx, `SELECT `+recordingCols+` FROM recordings WHERE org_id = ?
		AND COALESCE(ended_at, started_at) < ? ORDER BY COALESCE(ended_at, started_at), id LIMIT ?`, t.org, ts(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("recordings before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return collect(rows, scanRecording, "recordings before")
}

// DeleteRecording removes one recording's row.
func (t *Tx) DeleteRecording(ctx context.Context, id string) error {
	if err := checkID("recording", id); err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `DELETE FROM recordings WHERE org_id = ? AND id = ?`, t.org, id)
	return exactlyOne(n, err, "delete recording", id)
}
