package recordings

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
)

// sweepBatch is how many expired recordings of one organization one pass handles.
const sweepBatch = 200

// Sweep enforces every organization's retention: each recording that ended (or, never
// closed, started) more than its organization's retention days ago has its files removed,
// its row deleted and recording_expire audited (with its SHA-256, which the chain keeps).
// A recording whose file was written to since the cutoff is still being written and stays.
// Files in an organization's directory that no row holds are swept by age too. It returns
// how many recordings it removed; errors of one organization do not stop the others.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	orgs, err := s.st.OrganizationIDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("recordings: sweep: %w", err)
	}
	var errs []error
	total := 0
	for _, orgID := range orgs {
		n, err := s.sweepOrg(ctx, orgID)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("organization %s: %w", orgID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return total, fmt.Errorf("recordings: sweep: %w", err)
	}
	return total, nil
}

// Run sweeps every interval until ctx ends; the relay's reconciler owns it.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil {
			s.log.Warn("recordings retention sweep", "removed", n, "err", err)
		} else if n > 0 {
			s.log.Info("recordings retention sweep", "removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) sweepOrg(ctx context.Context, orgID string) (int, error) {
	var org store.Organization
	var old []store.Recording
	now := s.now()
	var cutoff time.Time
	err := s.st.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		if org, err = tx.Organization(ctx); err != nil {
			return err
		}
		days := org.Settings.RecordingRetentionDays
		if days <= 0 {
			days = store.DefaultRecordingRetentionDays
		}
		cutoff = now.Add(-time.Duration(days) * 24 * time.Hour)
		old, err = tx.RecordingsBefore(ctx, cutoff, sweepBatch)
		return err
	})
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, r := range old {
		if s.writtenSince(orgID, r.ID, cutoff) {
			continue
		}
		if err := s.expire(ctx, orgID, r, org.Settings.RecordingRetentionDays); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	// Files no row holds (a crash between writing and cataloguing): by age alone.
	orphans, err := recording.Sweep(s.orgDir(orgID), cutoff)
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range orphans {
		err := s.st.Write(ctx, orgID, func(tx store.Tx) error {
			return s.audit(ctx, tx, "system", store.AuditRecordingExpire, id, map[string]string{"orphan": "true"})
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// writtenSince reports whether a recording's video was modified after cutoff (it is still
// being written).
func (s *Service) writtenSince(orgID, id string, cutoff time.Time) bool {
	info, err := os.Stat(s.VideoPath(orgID, id))
	return err == nil && info.ModTime().After(cutoff)
}

// expire removes one recording's files, then its row, auditing it in the same transaction.
func (s *Service) expire(ctx context.Context, orgID string, r store.Recording, days int) error {
	for _, p := range []string{s.VideoPath(orgID, r.ID), s.TimelinePath(orgID, r.ID)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("expire %s: %w", filepath.Base(p), err)
		}
	}
	err := s.st.Write(ctx, orgID, func(tx store.Tx) error {
		if err := tx.DeleteRecording(ctx, r.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "system", store.AuditRecordingExpire, r.ID, map[string]string{
			"session": r.SessionID, "device": r.DeviceID, "video_sha256": r.VideoSHA256, "state": string(r.State),
			"retention_days": fmt.Sprint(days),
		})
	})
	if err != nil {
		return fmt.Errorf("expire %s: %w", r.ID, err)
	}
	return nil
}
