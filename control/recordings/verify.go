package recordings

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
)

// auditPage is how many audit entries Verify reads at a time looking for a recording's end.
const auditPage = 500

// Verification is what Verify found. OK only when the chain is intact, it holds the
// recording's end, both files match the SHA-256 it recorded and the catalogue agrees.
type Verification struct {
	ID string
	OK bool
	// AuditSeq is the recording_end entry's place in the chain (0: none found).
	AuditSeq                      int64
	AuditedVideo, AuditedTimeline string
	RowVideo, RowTimeline         string
	// Video and Timeline say how each file compares with the audited SHA-256: "ok",
	// "tampered", "missing" or an error.
	Video, Timeline string
	// Problems say, in sentences, each thing that differs.
	Problems []string
}

// Verify checks a recording's files against the SHA-256 the audit chain recorded when it
// closed, and the catalogue row against the chain too, so a changed row cannot hide a
// changed file: each that differs is named. The chain itself is verified first; a broken
// chain vouches for nothing.
func (s *Service) Verify(ctx context.Context, orgID, id string) (Verification, error) {
	v := Verification{ID: id}
	r, err := s.Get(ctx, orgID, id)
	if err != nil {
		return v, err
	}
	v.RowVideo, v.RowTimeline = r.VideoSHA256, r.TimelineSHA256
	if _, err := s.st.VerifyAudit(ctx, orgID); err != nil {
		v.Problems = append(v.Problems, "the organization's audit chain does not verify ("+truncate(err.Error(), 200)+"), so it vouches for no recording")
		return v, nil
	}
	end, err := s.auditedEnd(ctx, orgID, id)
	if err != nil {
		return v, err
	}
	if end == nil {
		switch r.State {
		case store.RecordingActive:
			v.Problems = append(v.Problems, "the recording is still being written; it can be verified once it ends")
		case store.RecordingFailed:
			v.Problems = append(v.Problems, "the recording failed ("+r.Error+"); the audit chain holds no SHA-256 for it")
		default:
			v.Problems = append(v.Problems, "the audit chain holds no end of this recording, yet the catalogue says it is complete: the catalogue was changed")
		}
		return v, nil
	}
	v.AuditSeq = end.Seq
	v.AuditedVideo, v.AuditedTimeline = end.Record.Details["video_sha256"], end.Record.Details["timeline_sha256"]
	v.Video = s.checkFile(&v, "video", s.VideoPath(orgID, id), v.AuditedVideo)
	v.Timeline = s.checkFile(&v, "timeline", s.TimelinePath(orgID, id), v.AuditedTimeline)
	if v.RowVideo != v.AuditedVideo {
		v.Problems = append(v.Problems, "the catalogue's video SHA-256 differs from the audit chain's: the catalogue was changed")
	}
	if v.RowTimeline != v.AuditedTimeline {
		v.Problems = append(v.Problems, "the catalogue's timeline SHA-256 differs from the audit chain's: the catalogue was changed")
	}
	v.OK = len(v.Problems) == 0
	return v, nil
}

func (s *Service) checkFile(v *Verification, what, path, sha string) string {
	err := recording.Verify(path, sha)
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, recording.ErrTampered):
		v.Problems = append(v.Problems, "the "+what+" file differs from the SHA-256 the audit chain recorded when the recording closed")
		return "tampered"
	case errors.Is(err, fs.ErrNotExist):
		v.Problems = append(v.Problems, "the "+what+" file is missing")
		return "missing"
	default:
		v.Problems = append(v.Problems, "the "+what+" file could not be read: "+truncate(err.Error(), 200))
		return "unreadable"
	}
}

// auditedEnd finds the chain's recording_end entry of id, nil when there is none.
func (s *Service) auditedEnd(ctx context.Context, orgID, id string) (*store.AuditEntry, error) {
	var found *store.AuditEntry
	after := int64(0)
	for found == nil {
		var page []store.AuditEntry
		err := s.st.Read(ctx, orgID, func(tx store.Tx) error {
			var err error
			page, err = tx.Audit(ctx, after, auditPage)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("recordings: verify %s: read audit: %w", id, err)
		}
		for i := range page {
			if page[i].Record.Action == store.AuditRecordingEnd && page[i].Record.Target == target(id) {
				found = &page[i]
				break
			}
		}
		if len(page) < auditPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	return found, nil
}
