package postgres

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/storetest"
	"github.com/kvmrelay/kvmrelay/migrations"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		db := newTestDB(t)
		owner := pool(t, db.ownerURL, 4)
		return storetest.Backend{
			Store: openApp(t, db),
			Open:  func(t *testing.T) store.Store { return openApp(t, db) },
			Exec:  func(t *testing.T, q string, args ...any) int64 { return ownerExec(t, owner, q, args...) },
		}
	})
}

func TestMigrateIdempotent(t *testing.T) {
	db := newTestDB(t)
	v, err := Migrate(context.Background(), db.ownerURL, MigrateOptions{AppRole: db.appRole})
	require.NoError(t, err)
	latest, err := migrations.Latest(migrations.Postgres)
	require.NoError(t, err)
	assert.Equal(t, latest, v)
	openApp(t, db)
}

// TestMigrateConcurrent runs two migrators at once: the advisory lock makes the second wait
// and then find nothing to do.
func TestMigrateConcurrent(t *testing.T) {
	owner := pg.Get(t).CreateDatabase(t)
	latest, err := migrations.Latest(migrations.Postgres)
	require.NoError(t, err)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			v, err := Migrate(context.Background(), owner, MigrateOptions{AppRole: "kvmrelay_app_concurrent"})
			if err == nil && v != latest {
				err = fmt.Errorf("migrated to %d, want %d", v, latest)
			}
			errs <- err
		}()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
}

func TestMigrateRejectsBadRoleName(t *testing.T) {
	_, err := Migrate(context.Background(), "postgres://127.0.0.1:1/x", MigrateOptions{AppRole: `x"; DROP ROLE postgres; --`})
	assert.ErrorContains(t, err, "identifier")
}

func TestOpenRefusesUnmigrated(t *testing.T) {
	owner := pg.Get(t).CreateDatabase(t)
	_, err := Open(context.Background(), owner)
	assert.ErrorIs(t, err, store.ErrSchemaTooOld)
	assert.ErrorContains(t, err, "kvmrelay migrate")
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	owner := pool(t, db.ownerURL, 1)
	ownerExec(t, owner, `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`)

	_, err := Open(ctx, db.appURL)
	var se *store.SchemaError
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, store.ErrSchemaTooNew)
	assert.Equal(t, 9999, se.Have)
	_, err = Migrate(ctx, db.ownerURL, MigrateOptions{AppRole: db.appRole})
	assert.ErrorIs(t, err, store.ErrSchemaTooNew, "migrate must not touch a newer schema")
}

// oldSchema is a database migrated to version, as storetest's migration tests take it.
func oldSchema(t *testing.T, version int) storetest.OldSchema {
	t.Helper()
	ownerURL := pg.Get(t).CreateDatabase(t)
	role := fmt.Sprintf("kvmrelay_app_%d", roles.Add(1))
	const password = "app-secret"
	v, err := migrateTo(context.Background(), ownerURL, MigrateOptions{AppRole: role, AppPassword: password}, version)
	require.NoError(t, err)
	require.Equal(t, version, v)
	owner := pool(t, ownerURL, 2)
	u, err := url.Parse(ownerURL)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	return storetest.OldSchema{
		Exec: func(t *testing.T, q string, args ...any) int64 { return ownerExec(t, owner, q, args...) },
		Time: func(t time.Time) any { return t },
		MigrateLatest: func(t *testing.T) {
			_, err := Migrate(context.Background(), ownerURL, MigrateOptions{AppRole: role})
			require.NoError(t, err)
		},
		Open: func(t *testing.T) store.Store {
			return openApp(t, testDB{ownerURL: ownerURL, appURL: u.String(), appRole: role})
		},
	}
}

// TestMigrationDeviceNames runs migration 5 (device names) on a version-3 database holding duplicate names.
func TestMigrationDeviceNames(t *testing.T) {
	storetest.DeviceNamesMigration(t, oldSchema(t, 3))
}

// TestMigrationConsent runs migration 6 (CONSENT_REQUIRED) on a version-5 database holding a
// live session.
func TestMigrationConsent(t *testing.T) {
	storetest.ConsentMigration(t, oldSchema(t, 5))
}

// TestMigrationGateways runs migration 7 (device kinds, AMT gateways and targets) on a
// version-6 database holding a device with a session.
func TestMigrationGateways(t *testing.T) {
	storetest.GatewayMigration(t, oldSchema(t, 6))
}

// TestBenchGatewayPresence is make bench-gateway's PostgreSQL half.
func TestBenchGatewayPresence(t *testing.T) {
	if os.Getenv(storetest.BenchEnv) != "gateway" {
		t.Skip("a benchmark: make bench-gateway")
	}
	storetest.BenchGatewayPresence(t, openApp(t, newTestDB(t)), "postgres")
}
