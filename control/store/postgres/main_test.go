package postgres

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/internal/sqlcore"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// pg is the cluster every test in this binary shares; each test gets its own database and
// its own application role.
var pg testenv.SharedPostgres

// roles numbers the application roles: roles are cluster-wide, databases are not.
var roles atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop postgres:", err)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testDB is one migrated database: the owner's URL and the application role's.
type testDB struct {
	ownerURL, appURL, appRole string
}

func newTestDB(t *testing.T) testDB {
	t.Helper()
	owner := pg.Get(t).CreateDatabase(t)
	role := fmt.Sprintf("kvmrelay_app_%d", roles.Add(1))
	const password = "app-secret-'quoted'"
	_, err := Migrate(context.Background(), owner, MigrateOptions{AppRole: role, AppPassword: password})
	require.NoError(t, err)
	u, err := url.Parse(owner)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	return testDB{ownerURL: owner, appURL: u.String(), appRole: role}
}

// pool connects as the given URL with at most maxConns connections, closed at cleanup.
func pool(t *testing.T, rawURL string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(rawURL)
	require.NoError(t, err)
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

func openApp(t *testing.T, db testDB) store.Store {
	t.Helper()
	s, err := Open(context.Background(), db.appURL)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// ownerExec runs raw SQL as the owner (a superuser here, so past RLS); ? marks parameters.
func ownerExec(t *testing.T, p *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	tag, err := p.Exec(context.Background(), sqlcore.Dollar(q), args...)
	require.NoError(t, err)
	return tag.RowsAffected()
}
