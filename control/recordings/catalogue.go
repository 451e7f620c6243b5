package recordings

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// maxTimelineLine bounds one line of a timeline file (a keys event at most holds 256
// strokes).
const maxTimelineLine = 1 << 20

// Get returns one recording of the organization; ErrNotFound when it has none.
func (s *Service) Get(ctx context.Context, orgID, id string) (store.Recording, error) {
	var r store.Recording
	err := s.st.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		r, err = tx.Recording(ctx, id)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("recordings: %s: %w", id, notFound(err))
	}
	return r, nil
}

// List lists the organization's recordings, newest first.
func (s *Service) List(ctx context.Context, orgID string, f store.RecordingFilter) ([]store.Recording, error) {
	var out []store.Recording
	err := s.st.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		out, err = tx.Recordings(ctx, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recordings: list: %w", err)
	}
	return out, nil
}

// Timeline reads a recording's timeline, one JSON value per line, as it was written.
func (s *Service) Timeline(ctx context.Context, orgID, id string) ([]json.RawMessage, error) {
	if _, err := s.Get(ctx, orgID, id); err != nil {
		return nil, err
	}
	f, err := os.Open(s.TimelinePath(orgID, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("recordings: timeline of %s: %w", id, errors.Join(ErrNotFound, err))
	}
	if err != nil {
		return nil, fmt.Errorf("recordings: timeline of %s: %w", id, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxTimelineLine)
	out := []json.RawMessage{}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			// A crash can cut the last line short; what came before stands.
			s.log.Warn("recording timeline has a line that is not JSON", "recording", id, "line", len(out)+1)
			continue
		}
		out = append(out, json.RawMessage(append([]byte(nil), line...)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("recordings: timeline of %s: %w", id, err)
	}
	return out, nil
}

// Access is why someone fetches a recording's video.
type Access string

// Accesses, each audited as its own action.
const (
	AccessView   Access = "view"
	AccessExport Access = "export"
)

// OpenVideo audits that actor fetches id's video (recording_view or recording_export) and
// returns the file's path and the recording. ErrNotFound when the recording or its file is
// gone.
func (s *Service) OpenVideo(ctx context.Context, orgID, id, actor string, why Access) (string, store.Recording, error) {
	action := store.AuditRecordingView
	if why == AccessExport {
		action = store.AuditRecordingExport
	}
	var r store.Recording
	path := s.VideoPath(orgID, id)
	err := s.st.Write(ctx, orgID, func(tx store.Tx) error {
		var err error
		if r, err = tx.Recording(ctx, id); err != nil {
			return err
		}
		if _, err := os.Stat(path); err != nil {
			return errors.Join(store.ErrNotFound, err)
		}
		return s.audit(ctx, tx, actor, action, id, map[string]string{"session": r.SessionID, "device": r.DeviceID})
	})
	if err != nil {
		return "", r, fmt.Errorf("recordings: open %s: %w", id, notFound(err))
	}
	return path, r, nil
}

// AuditTimeline records that actor read id's timeline (recording_view, part timeline): with
// full keystroke capture it holds the keys typed.
func (s *Service) AuditTimeline(ctx context.Context, orgID, id, actor string) error {
	return s.st.Write(ctx, orgID, func(tx store.Tx) error {
		return s.audit(ctx, tx, actor, store.AuditRecordingView, id, map[string]string{"part": "timeline"})
	})
}

// AuditVerify records that actor verified id, and the outcome.
func (s *Service) AuditVerify(ctx context.Context, orgID, actor string, v Verification) error {
	details := map[string]string{"ok": fmt.Sprint(v.OK), "video": v.Video, "timeline": v.Timeline}
	if len(v.Problems) > 0 {
		details["problem"] = truncate(v.Problems[0], 300)
	}
	return s.st.Write(ctx, orgID, func(tx store.Tx) error {
		return s.audit(ctx, tx, actor, store.AuditRecordingVerify, v.ID, details)
	})
}
