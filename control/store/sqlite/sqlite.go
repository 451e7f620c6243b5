// Package sqlite is the embedded control-plane store: one SQLite file in the relay's data
// directory, through modernc.org/sqlite (pure Go). WAL lets readers run beside the single
// writer; write transactions begin IMMEDIATE, so they take the write lock up front (no
// read-then-upgrade deadlocks) and serialize across processes sharing the file, which is what
// keeps each audit chain linear. Every query filters on org_id.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store/internal/sqlcore"
	"github.com/kvmrelay/kvmrelay/migrations"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// FileName is the database file inside the data directory.
const FileName = "kvmrelay.db"

// BusyTimeout is how long a writer waits for another process's write transaction.
const BusyTimeout = 30 * time.Second

// Store is the SQLite store.
type Store struct {
	*sqlcore.Store
	writer *sql.DB // one connection: the single writer
	reader *sql.DB
}

// dsn builds a modernc.org/sqlite URI for path; _pragma runs on every new connection.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

func openDB(path string, write bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, write))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if write {
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(4)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Open opens the store in dataDir. It refuses a schema other than the one this binary knows:
// store.ErrSchemaTooOld (run Migrate) or store.ErrSchemaTooNew (upgrade the binary).
func Open(ctx context.Context, dataDir string) (*Store, error) {
	path := filepath.Join(dataDir, FileName)
	w, err := openDB(path, true)
	if err != nil {
		return nil, err
	}
	have, err := schemaVersion(ctx, w)
	if err == nil {
		var want int
		want, err = migrations.Latest(migrations.SQLite)
		if err == nil {
			err = sqlcore.CheckSchema(have, want)
		}
	}
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := openDB(path, false)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	s := &Store{writer: w, reader: r}
	s.Store = sqlcore.NewStore(s.runTx, sqlcore.Dialect{}, s.closeDBs)
	return s, nil
}

func (s *Store) closeDBs() error {
	return errors.Join(s.reader.Close(), s.writer.Close())
}

func (s *Store) runTx(ctx context.Context, _ string, write bool, fn func(sqlcore.Conn) error) error {
	db := s.reader
	if write {
		db = s.writer
	}
	return inTx(ctx, db, fn)
}

// inTx runs fn in a transaction of db (BEGIN IMMEDIATE on the writer).
func inTx(ctx context.Context, db *sql.DB, fn func(sqlcore.Conn) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", mapErr(err))
	}
	if err := fn(conn{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", mapErr(err))
	}
	return nil
}

// RawDB opens a plain handle on the data directory's database, for tests and tools that need
// to see or alter rows behind the store's back. It does no schema check.
func RawDB(dataDir string) (*sql.DB, error) {
	return openDB(filepath.Join(dataDir, FileName), true)
}
