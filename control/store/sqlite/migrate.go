package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store/internal/sqlcore"
	"github.com/kvmrelay/kvmrelay/migrations"
)

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// Migrate creates dataDir's database if needed and applies the migrations it lacks, each in
// its own transaction. It returns the version reached and refuses a database newer than this
// binary (store.ErrSchemaTooNew).
func Migrate(ctx context.Context, dataDir string) (int, error) { return migrateTo(ctx, dataDir, 0) }

// migrateTo is Migrate stopping at version upTo (0: the latest), so a test can put data in an
// older schema and watch a later migration handle it.
func migrateTo(ctx context.Context, dataDir string, upTo int) (int, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	db, err := openDB(filepath.Join(dataDir, FileName), true)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, createSchemaMigrations); err != nil {
		return 0, fmt.Errorf("sqlite: migrate: create schema_migrations: %w", err)
	}
	ms, err := migrations.List(migrations.SQLite)
	if err != nil {
		return 0, err
	}
	if upTo > 0 && upTo < len(ms) {
		ms = ms[:upTo]
	}
	have, err := schemaVersion(ctx, db)
	if err != nil {
		return 0, err
	}
	if err := sqlcore.CheckMigratable(have, len(ms)); err != nil {
		return have, err
	}
	for _, m := range ms[have:] {
		err := inTx(ctx, db, func(c sqlcore.Conn) error {
			// Re-check inside the write lock: another process may have migrated meanwhile.
			var n int
			if err := c.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := c.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := c.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now())
			return err
		})
		if err != nil {
			return have, fmt.Errorf("sqlite: migrate %s: %w", m.Name, err)
		}
		have = m.Version
	}
	// The file holds credential hashes: keep it to the relay's user (WAL and SHM files are
	// created with the same mode as the database).
	if err := os.Chmod(filepath.Join(dataDir, FileName), 0o600); err != nil {
		return have, fmt.Errorf("sqlite: migrate: %w", err)
	}
	return have, nil
}

// schemaVersion is the highest applied migration, 0 for a database never migrated.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return 0, nil
		}
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	return int(v.Int64), nil
}
