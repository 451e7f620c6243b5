package recordings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
)

// DirName is the recordings directory's name inside the data directory.
const DirName = "recordings"

// DefaultDir is the recordings directory of a data directory.
func DefaultDir(dataDir string) string { return filepath.Join(dataDir, DirName) }

// Config configures a Service.
type Config struct {
	Store store.Store
	// RecordingsDir holds every organization's recordings (DefaultDir of the data directory
	// by default; on several nodes, a shared POSIX mount at the same path on each, see
	// deploy/README.md).
	RecordingsDir string
	Now           func() time.Time
	Logger        *slog.Logger
}

// Service is the recordings' policy, catalogue, verification and retention.
type Service struct {
	st  store.Store
	dir string
	now func() time.Time
	log *slog.Logger
}

// New makes a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.RecordingsDir == "" {
		return nil, errors.New("recordings: a store and a recordings directory are required")
	}
	dir, err := filepath.Abs(cfg.RecordingsDir)
	if err != nil {
		return nil, fmt.Errorf("recordings: directory %s: %w", cfg.RecordingsDir, err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{st: cfg.Store, dir: dir, now: cfg.Now, log: cfg.Logger}, nil
}

// Dir is the recordings directory.
func (s *Service) Dir() string { return s.dir }

// orgDir is where an organization's recordings are written.
func (s *Service) orgDir(orgID string) string { return filepath.Join(s.dir, orgID) }

// VideoPath is the video file of a recording, derived from the ids alone.
func (s *Service) VideoPath(orgID, id string) string {
	return recording.VideoPath(s.orgDir(orgID), id)
}

// TimelinePath is the timeline file of a recording.
func (s *Service) TimelinePath(orgID, id string) string {
	return recording.TimelinePath(s.orgDir(orgID), id)
}

// relPath is the catalogue's path of a recording's video, relative to the directory.
func relPath(orgID, id string) string { return orgID + "/" + id + ".mp4" }

func target(id string) string { return "recording:" + id }

func (s *Service) audit(ctx context.Context, tx store.Tx, actor string, action store.AuditAction, id string, details map[string]string) error {
	_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: s.now(), Actor: actor, Action: action, Target: target(id), Details: details})
	if err != nil {
		return fmt.Errorf("recordings: audit %s: %w", action, err)
	}
	return nil
}

// notFound turns the store's not-found into the package's.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return errors.Join(ErrNotFound, err)
	}
	return err
}
