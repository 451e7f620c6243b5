package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/internal/sqlcore"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// conn adapts a database/sql transaction to sqlcore.Conn: times become integer microseconds
// and driver errors become store sentinels.
type conn struct{ tx *sql.Tx }

func args(in []any) []any {
	out := make([]any, len(in))
	for i, a := range in {
		switch v := a.(type) {
		case time.Time:
			out[i] = v.UnixMicro()
		case *time.Time:
			if v == nil {
				out[i] = nil
			} else {
				out[i] = v.UnixMicro()
			}
		default:
			out[i] = a
		}
	}
	return out
}

func (c conn) Exec(ctx context.Context, q string, a ...any) (int64, error) {
	res, err := c.tx.ExecContext(ctx, q, args(a)...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

func (c conn) QueryRow(ctx context.Context, q string, a ...any) sqlcore.Row {
	return row{c.tx.QueryRowContext(ctx, q, args(a)...)}
}

func (c conn) Query(ctx context.Context, q string, a ...any) (sqlcore.Rows, error) {
	r, err := c.tx.QueryContext(ctx, q, args(a)...)
	if err != nil {
		return nil, mapErr(err)
	}
	return rows{r}, nil
}

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }

type rows struct{ r *sql.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }
func (r rows) Err() error             { return mapErr(r.r.Err()) }
func (r rows) Close()                 { _ = r.r.Close() }

// mapErr wraps driver errors in the store's sentinels, keeping the original in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errors.Join(store.ErrNotFound, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errors.Join(store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return errors.Join(store.ErrNotFound, err)
		}
	}
	return err
}
