package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// wantTenantTables are the tables the catalog must show under forced RLS: every table but
// schema_migrations. The catalog query below finds them; this list makes sure it found them.
var wantTenantTables = []string{"api_keys", "audit_entries", "console_sessions", "devices",
	"enrollment_tokens", "invitations", "organizations", "password_resets", "recordings", "recovery_codes", "refresh_tokens",
	"session_shares", "spent_tokens", "users"}

// wantRLSTables adds the directory, which is under forced RLS too but readable by every
// tenant (it maps public identifiers to organizations and holds nothing else).
var wantRLSTables = []string{"api_keys", "audit_entries", "console_sessions", "devices", "directory",
	"enrollment_tokens", "invitations", "organizations", "password_resets", "recordings", "recovery_codes", "refresh_tokens",
	"session_shares", "spent_tokens", "users"}

// TestRLSPoolOfOne is SECURITY.md item 5: with one pooled connection as the application role,
// tenant A's transaction and then a transaction with no tenant set share the connection, and
// the second sees nothing; a foreign org id fails WITH CHECK.
func TestRLSPoolOfOne(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	s := openApp(t, db)
	a, err := s.CreateOrganization(ctx, store.Organization{Name: "a", Slug: "a"})
	require.NoError(t, err)
	b, err := s.CreateOrganization(ctx, store.Organization{Name: "b", Slug: "b"})
	require.NoError(t, err)
	for _, o := range []store.Organization{a, b} {
		require.NoError(t, s.Write(ctx, o.ID, func(tx store.Tx) error {
			_, err := tx.CreateDevice(ctx, store.Device{Name: "rack-" + o.Name})
			return err
		}))
	}

	app := pool(t, db.appURL, 1)
	var pid1, pid2 int
	var n int
	// Tenant A, the way the store does it: local to the transaction.
	require.NoError(t, pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid1); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM devices`).Scan(&n)
	}))
	assert.Equal(t, 1, n, "tenant A sees its own device only")

	// The same connection, no tenant: current_setting now returns '' (not NULL).
	require.NoError(t, app.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid2))
	require.Equal(t, pid1, pid2, "the pool of one reused the connection")
	var setting *string
	require.NoError(t, app.QueryRow(ctx, `SELECT current_setting('app.org_id', true)`).Scan(&setting))
	require.NotNil(t, setting)
	assert.Equal(t, "", *setting, "the tenant did not outlive its transaction")
	for _, table := range wantTenantTables {
		require.NoError(t, app.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n))
		assert.Zero(t, n, "%s without a tenant", table)
	}
	// An empty tenant string must match nothing either (NULLIF), not rows with an empty id.
	require.NoError(t, pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', '', true)`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM devices`).Scan(&n)
	}))
	assert.Zero(t, n)

	// Inside tenant A, an insert naming tenant B fails WITH CHECK.
	err = pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO devices (org_id, id, name, created_at) VALUES ($1, $2, 'evil', now())`, b.ID, store.NewID())
		return err
	})
	require.Error(t, err)
	assert.Equal(t, "42501", pgCode(err), "new row violates row-level security policy: %v", err)
	assert.ErrorContains(t, err, "row-level security")

	// The directory is readable by all, but tenant A cannot register a key for B, nor delete B's.
	err = pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO directory (kind, key, org_id) VALUES ('org', 'hijack', $1)`, b.ID)
		return err
	})
	assert.Equal(t, "42501", pgCode(err), "directory insert for another tenant: %v", err)
	require.NoError(t, pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM directory WHERE org_id = $1`, b.ID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM directory WHERE org_id = $1`, b.ID).Scan(&n)
	}))
	assert.Equal(t, 2, n, "B's slug and device are still registered")

	// Moving A's row to B fails too, and B's rows cannot be updated from A at all.
	err = pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE organizations SET id = $1`, store.NewID())
		return err
	})
	assert.Equal(t, "42501", pgCode(err), "%v", err)

	// With no tenant, an insert fails as well.
	_, err = app.Exec(ctx, `INSERT INTO organizations (id, name, created_at) VALUES ($1, 'x', now())`, store.NewID())
	assert.Equal(t, "42501", pgCode(err), "%v", err)
}

// TestRLSSessionSetLeakIsWhyWeUseLocal documents the pool failure the store avoids: a
// session-level set_config (false) survives into the next borrower's work.
func TestRLSSessionSetLeakIsWhyWeUseLocal(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	s := openApp(t, db)
	a, err := s.CreateOrganization(ctx, store.Organization{Name: "a", Slug: "a"})
	require.NoError(t, err)
	app := pool(t, db.appURL, 1)
	_, err = app.Exec(ctx, `SELECT set_config('app.org_id', $1, false)`, a.ID)
	require.NoError(t, err)
	var n int
	require.NoError(t, app.QueryRow(ctx, `SELECT count(*) FROM organizations`).Scan(&n))
	assert.Equal(t, 1, n, "session-level: the tenant leaked to the next query on the connection")
}

// TestCatalog is the rest of SECURITY.md item 5: forced RLS on every tenant table, and an
// application role that is no superuser, cannot bypass RLS and owns nothing.
func TestCatalog(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	owner := pool(t, db.ownerURL, 1)

	rows, err := owner.Query(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
			(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations'
		ORDER BY 1`)
	require.NoError(t, err)
	type rel struct {
		name        string
		rls, forced bool
		policies    int
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		err := r.Scan(&x.name, &x.rls, &x.forced, &x.policies)
		return x, err
	})
	require.NoError(t, err)
	var names []string
	for _, r := range got {
		names = append(names, r.name)
		assert.True(t, r.rls, "%s: relrowsecurity", r.name)
		assert.True(t, r.forced, "%s: relforcerowsecurity", r.name)
		if r.name == "directory" {
			assert.Equal(t, 3, r.policies, "directory: open lookup, tenant-scoped insert and delete")
			continue
		}
		assert.Equal(t, 1, r.policies, "%s: one tenant policy", r.name)
	}
	assert.Equal(t, wantRLSTables, names)

	// Every policy compares through NULLIF and has a WITH CHECK.
	var bad int
	require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FROM pg_policies WHERE schemaname = 'public'
		AND tablename <> 'directory'
		AND (qual NOT LIKE '%NULLIF(current_setting(''app.org_id''::text, true), ''''::text)%'
		     OR with_check IS NULL OR with_check <> qual OR NOT permissive = 'PERMISSIVE')`).Scan(&bad))
	assert.Zero(t, bad, "policies without NULLIF or WITH CHECK")

	// The directory: anyone may look up; only the scoped tenant may add or remove its rows.
	dirPolicies, err := owner.Query(ctx, `SELECT policyname, cmd, coalesce(qual, ''), coalesce(with_check, '')
		FROM pg_policies WHERE schemaname = 'public' AND tablename = 'directory' ORDER BY policyname`)
	require.NoError(t, err)
	type pol struct{ name, cmd, qual, check string }
	pols, err := pgx.CollectRows(dirPolicies, func(r pgx.CollectableRow) (pol, error) {
		var p pol
		return p, r.Scan(&p.name, &p.cmd, &p.qual, &p.check)
	})
	require.NoError(t, err)
	const tenantExpr = "NULLIF(current_setting('app.org_id'::text, true), ''::text)"
	require.Len(t, pols, 3)
	assert.Equal(t, pol{"lookup", "SELECT", "true", ""}, pols[0])
	assert.Equal(t, "DELETE", pols[1].cmd)
	assert.Contains(t, pols[1].qual, tenantExpr)
	assert.Equal(t, "INSERT", pols[2].cmd)
	assert.Contains(t, pols[2].check, tenantExpr)

	var super, bypass, createRole, createDB, login bool
	require.NoError(t, owner.QueryRow(ctx, `SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin
		FROM pg_roles WHERE rolname = $1`, db.appRole).Scan(&super, &bypass, &createRole, &createDB, &login))
	assert.False(t, super, "rolsuper")
	assert.False(t, bypass, "rolbypassrls")
	assert.False(t, createRole, "rolcreaterole")
	assert.False(t, createDB, "rolcreatedb")
	assert.True(t, login, "rolcanlogin")

	var owned int
	require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
		WHERE r.rolname = $1`, db.appRole).Scan(&owned))
	assert.Zero(t, owned, "the app role owns no relation")
	require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
		WHERE r.rolname = $1`, db.appRole).Scan(&owned))
	assert.Zero(t, owned, "the app role owns no schema")

	// Audit is append-only for the app role; schema_migrations is read-only.
	for _, c := range []struct {
		table, priv string
		want        bool
	}{
		{"audit_entries", "INSERT", true},
		{"audit_entries", "UPDATE", false},
		{"audit_entries", "DELETE", false},
		{"audit_entries", "TRUNCATE", false},
		{"devices", "UPDATE", true},
		{"directory", "INSERT", true},
		{"directory", "UPDATE", false},
		{"devices", "TRUNCATE", false},
		{"schema_migrations", "SELECT", true},
		{"schema_migrations", "INSERT", false},
	} {
		var has bool
		require.NoError(t, owner.QueryRow(ctx, `SELECT has_table_privilege($1, $2, $3)`, db.appRole, c.table, c.priv).Scan(&has))
		assert.Equal(t, c.want, has, "%s on %s", c.priv, c.table)
	}
}

// TestAppRoleCannotRewriteAudit checks the grant from the relay's side: even inside its own
// tenant the app role cannot UPDATE or DELETE audit rows.
func TestAppRoleCannotRewriteAudit(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	s := openApp(t, db)
	a, err := s.CreateOrganization(ctx, store.Organization{Name: "a", Slug: "a"})
	require.NoError(t, err)
	_, err = s.AppendAudit(ctx, a.ID, store.AuditRecord{Action: store.AuditLogin})
	require.NoError(t, err)
	app := pool(t, db.appURL, 1)
	for _, q := range []string{`UPDATE audit_entries SET body = '{}'`, `DELETE FROM audit_entries`} {
		err := pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, q)
			return err
		})
		assert.Equal(t, "42501", pgCode(err), "%s: %v", q, err)
	}
	n, err := s.VerifyAudit(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}
