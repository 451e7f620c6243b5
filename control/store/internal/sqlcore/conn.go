// Package sqlcore is the SQL shared by the SQLite and PostgreSQL stores: one implementation of
// store.Tx over a small connection interface that each driver adapts. Queries use ? for
// parameters (the PostgreSQL adapter rewrites them to $n), take times as time.Time (the SQLite
// adapter stores microseconds) and always filter on org_id, so the SQLite store is scoped by
// its queries and the PostgreSQL store by its queries and by RLS.
package sqlcore

import "context"

// Conn is one open transaction as a driver adapter presents it. Adapters translate driver
// errors: no rows → store.ErrNotFound, unique violation → store.ErrConflict, foreign key
// violation → store.ErrNotFound.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Row is a single-row result.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a multi-row result; Close is idempotent.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect is what differs between the databases beyond the adapter.
type Dialect struct {
	// LockAuditChain serializes appends to one organization's chain until the transaction
	// ends. nil when the transaction already excludes every other writer (SQLite).
	LockAuditChain func(ctx context.Context, c Conn, orgID string) error
	// AnyArray: the driver binds a []string parameter as an array, so a list of any length
	// is matched with "= ANY(?)" in one statement (PostgreSQL). Otherwise lists are spelled
	// out as IN (?, ?, …), in chunks of inChunk, to stay under the driver's parameter limit.
	AnyArray bool
}

// inChunk is how many values one IN (…) list binds where arrays cannot be bound: far below
// SQLite's limit on parameters (32766), few statements for a gateway's thousands of targets.
const inChunk = 500
