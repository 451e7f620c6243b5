package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/internal/sqlcore"
)

// conn adapts a pgx transaction to sqlcore.Conn: ? parameters become $n and driver errors
// become store sentinels.
type conn struct{ tx pgx.Tx }

func (c conn) Exec(ctx context.Context, q string, a ...any) (int64, error) {
	tag, err := c.tx.Exec(ctx, sqlcore.Dollar(q), a...)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

func (c conn) QueryRow(ctx context.Context, q string, a ...any) sqlcore.Row {
	return row{c.tx.QueryRow(ctx, sqlcore.Dollar(q), a...)}
}

func (c conn) Query(ctx context.Context, q string, a ...any) (sqlcore.Rows, error) {
	r, err := c.tx.Query(ctx, sqlcore.Dollar(q), a...)
	if err != nil {
		return nil, mapErr(err)
	}
	return rows{r}, nil
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }

type rows struct{ r pgx.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }
func (r rows) Err() error             { return mapErr(r.r.Err()) }
func (r rows) Close()                 { r.r.Close() }

// pgCode is the SQLSTATE of a server error, "" for any other error.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// mapErr wraps driver errors in the store's sentinels, keeping the original in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.Join(store.ErrNotFound, err)
	}
	switch pgCode(err) {
	case "23505": // unique_violation
		return errors.Join(store.ErrConflict, err)
	case "23503": // foreign_key_violation
		return errors.Join(store.ErrNotFound, err)
	case "22P02": // invalid_text_representation, e.g. a malformed uuid
		return errors.Join(store.ErrInvalid, err)
	}
	return err
}
