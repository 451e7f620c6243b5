package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kvmrelay/kvmrelay/control/store/internal/sqlcore"
	"github.com/kvmrelay/kvmrelay/migrations"
)

// DefaultAppRole is the application role Migrate creates unless told otherwise.
const DefaultAppRole = "kvmrelay_app"

// MigrateOptions configure Migrate.
type MigrateOptions struct {
	// AppRole is the role the relay connects as; DefaultAppRole when empty. It must be a plain
	// lower-case identifier.
	AppRole string
	// AppPassword, when set, becomes the role's password (on every run, so it can rotate).
	AppPassword string
}

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate applies the migrations ownerURL's database lacks, as the owning role, then makes
// sure the application role exists with no privilege beyond DML on the tenant tables (and
// only SELECT, INSERT on the append-only audit log). Concurrent migrators wait on a session
// advisory lock. It returns the version reached and refuses a database newer than this binary.
func Migrate(ctx context.Context, ownerURL string, opts MigrateOptions) (int, error) {
	return migrateTo(ctx, ownerURL, opts, 0)
}

// migrateTo is Migrate stopping at version upTo (0: the latest), so a test can put data in an
// older schema and watch a later migration handle it.
func migrateTo(ctx context.Context, ownerURL string, opts MigrateOptions, upTo int) (int, error) {
	if opts.AppRole == "" {
		opts.AppRole = DefaultAppRole
	}
	if !roleName.MatchString(opts.AppRole) {
		return 0, fmt.Errorf("postgres: migrate: app role %q is not a plain lower-case identifier", opts.AppRole)
	}
	c, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: connect: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1, 0)`, lockNamespace); err != nil {
		return 0, fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	// Closing the connection would release the lock too; unlock explicitly for pooled setups.
	defer func() { _, _ = c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, 0)`, lockNamespace) }()

	if _, err := c.Exec(ctx, createSchemaMigrations); err != nil {
		return 0, fmt.Errorf("postgres: migrate: create schema_migrations: %w", err)
	}
	ms, err := migrations.List(migrations.Postgres)
	if err != nil {
		return 0, err
	}
	if upTo > 0 && upTo < len(ms) {
		ms = ms[:upTo]
	}
	var have int
	if err := c.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return 0, fmt.Errorf("postgres: migrate: read version: %w", err)
	}
	if err := sqlcore.CheckMigratable(have, len(ms)); err != nil {
		return have, fmt.Errorf("postgres: %w", err)
	}
	for _, m := range ms[have:] {
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// No arguments: the simple protocol runs a file of several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return have, fmt.Errorf("postgres: migrate %s: %w", m.Name, err)
		}
		have = m.Version
	}
	if err := ensureAppRole(ctx, c, opts); err != nil {
		return have, fmt.Errorf("postgres: migrate: app role %s: %w", opts.AppRole, err)
	}
	return have, nil
}

// ensureAppRole creates the application role if missing, strips any privilege it should not
// have, and grants it exactly what the relay needs, on every run so new tables are covered.
func ensureAppRole(ctx context.Context, c *pgx.Conn, opts MigrateOptions) error {
	role := pgx.Identifier{opts.AppRole}.Sanitize()
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, opts.AppRole).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		// Another database's migrator may create it first (roles are cluster-wide).
		if _, err := c.Exec(ctx, `CREATE ROLE `+role); err != nil && pgCode(err) != "42710" {
			return err
		}
	}
	var db string
	if err := c.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		return err
	}
	stmts := []string{
		`ALTER ROLE ` + role + ` LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION`,
		`GRANT CONNECT ON DATABASE ` + pgx.Identifier{db}.Sanitize() + ` TO ` + role,
		`GRANT USAGE ON SCHEMA public TO ` + role,
		`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ` + role,
		`GRANT SELECT ON schema_migrations TO ` + role,
	}
	if opts.AppPassword != "" {
		stmts = append(stmts, `ALTER ROLE `+role+` PASSWORD '`+strings.ReplaceAll(opts.AppPassword, "'", "''")+`'`)
	}
	tables, err := tenantTables(ctx, c)
	if err != nil {
		return err
	}
	for _, t := range tables {
		privs := "SELECT, INSERT, UPDATE, DELETE"
		switch t {
		case "audit_entries":
			privs = "SELECT, INSERT" // append-only, even for a compromised relay
		case "directory":
			privs = "SELECT, INSERT, DELETE" // a row is never repointed to another tenant
		}
		stmts = append(stmts, `GRANT `+privs+` ON `+pgx.Identifier{t}.Sanitize()+` TO `+role)
	}
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(s, " PASSWORD ", 2)[0], err)
		}
	}
	return nil
}

// tenantTables are the tables of the public schema other than schema_migrations: every one
// holds tenant data and is under RLS.
func tenantTables(ctx context.Context, c *pgx.Conn) ([]string, error) {
	rows, err := c.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
