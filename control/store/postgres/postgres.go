// Package postgres is the control-plane store on PostgreSQL through jackc/pgx. The relay
// connects as an application role that owns nothing and cannot bypass Row-Level Security;
// every transaction names its tenant with set_config('app.org_id', id, true), which ends with
// the transaction, so a pooled connection never carries one tenant into the next borrower's
// work. Audit appends serialize per organization on a transaction-scoped advisory lock.
package postgres

import (
	"context"

	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kvmrelay/kvmrelay/control/store/internal/sqlcore"
	"github.com/kvmrelay/kvmrelay/migrations"
)

// lockNamespace is the first key of every advisory lock kvmrelay takes ("kvmr"), so its locks
// cannot collide with another application's on the same database.
const lockNamespace int32 = 0x6b766d72

// Store is the PostgreSQL store.
type Store struct {
	*sqlcore.Store
	pool *pgxpool.Pool
}

// Open connects to databaseURL (as the application role) and checks the schema version.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s, err := New(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New wraps an existing pool, which the Store then owns and closes. It refuses a schema other
// than the one this binary knows: store.ErrSchemaTooOld or store.ErrSchemaTooNew.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	var have int
	err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have)
	if err != nil && !isUndefinedTable(err) {
		return nil, fmt.Errorf("postgres: read schema version: %w", err)
	}
	want, err := migrations.Latest(migrations.Postgres)
	if err != nil {
		return nil, err
	}
	if err := sqlcore.CheckSchema(have, want); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	s.Store = sqlcore.NewStore(s.runTx, sqlcore.Dialect{LockAuditChain: lockAuditChain, AnyArray: true}, func() error {
		pool.Close()
		return nil
	})
	return s, nil
}

// runTx opens a transaction, names its tenant for RLS (local to the transaction: the third
// argument true), runs fn and commits.
func (s *Store) runTx(ctx context.Context, orgID string, write bool, fn func(sqlcore.Conn) error) error {
	opts := pgx.TxOptions{AccessMode: pgx.ReadWrite}
	if !write {
		opts.AccessMode = pgx.ReadOnly
	}
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// Rollback after Commit is a no-op; this covers fn's errors and panics alike.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, orgID); err != nil {
		return fmt.Errorf("postgres: set tenant: %w", err)
	}
	if err := fn(conn{tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", mapErr(err))
	}
	return nil
}

// lockAuditChain holds orgID's chain until the transaction ends; the next appender blocks here
// and then reads the head this one committed.
func lockAuditChain(ctx context.Context, c sqlcore.Conn, orgID string) error {
	_, err := c.Exec(ctx, `SELECT pg_advisory_xact_lock(?::int4, hashtext(?::text))`, lockNamespace, orgID)
	return err
}

// Pool is the store's connection pool, for health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func isUndefinedTable(err error) bool { return pgCode(err) == "42P01" }
