package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/storetest"
	"github.com/kvmrelay/kvmrelay/migrations"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func migrated(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	v, err := Migrate(context.Background(), dir)
	require.NoError(t, err)
	latest, err := migrations.Latest(migrations.SQLite)
	require.NoError(t, err)
	require.Equal(t, latest, v)
	return dir
}

func open(t *testing.T, dir string) store.Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		dir := migrated(t)
		raw, err := RawDB(dir)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, raw.Close()) })
		return storetest.Backend{
			Store: open(t, dir),
			Open:  func(t *testing.T) store.Store { return open(t, dir) },
			Exec: func(t *testing.T, q string, args ...any) int64 {
				res, err := raw.Exec(q, args...)
				require.NoError(t, err)
				n, err := res.RowsAffected()
				require.NoError(t, err)
				return n
			},
		}
	})
}

func TestOpenRefusesUnmigrated(t *testing.T) {
	_, err := Open(context.Background(), t.TempDir())
	assert.ErrorIs(t, err, store.ErrSchemaTooOld)
	assert.ErrorContains(t, err, "kvmrelay migrate")
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	dir := migrated(t)
	raw, err := RawDB(dir)
	require.NoError(t, err)
	_, err = raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
	require.NoError(t, err)
	require.NoError(t, raw.Close())

	_, err = Open(ctx, dir)
	var se *store.SchemaError
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, store.ErrSchemaTooNew)
	assert.Equal(t, 9999, se.Have)
	_, err = Migrate(ctx, dir)
	assert.ErrorIs(t, err, store.ErrSchemaTooNew, "migrate must not touch a newer schema")
}

func TestMigrateIdempotent(t *testing.T) {
	dir := migrated(t)
	v, err := Migrate(context.Background(), dir)
	require.NoError(t, err)
	latest, err := migrations.Latest(migrations.SQLite)
	require.NoError(t, err)
	assert.Equal(t, latest, v)
	open(t, dir)
	fi, err := os.Stat(filepath.Join(dir, FileName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "credential hashes stay private")
}

// TestReaderIsReadOnly checks that Read transactions cannot write, so a read path can never
// take the writer's place.
func TestReaderIsReadOnly(t *testing.T) {
	ctx := context.Background()
	s := open(t, migrated(t))
	o, err := s.CreateOrganization(ctx, store.Organization{Name: "Acme", Slug: "acme"})
	require.NoError(t, err)
	err = s.Read(ctx, o.ID, func(tx store.Tx) error { _, err := tx.CreateDevice(ctx, store.Device{Name: "x"}); return err })
	assert.Error(t, err)
}

// oldSchema is a database migrated to version, as storetest's migration tests take it.
func oldSchema(t *testing.T, version int) storetest.OldSchema {
	t.Helper()
	dir := t.TempDir()
	v, err := migrateTo(context.Background(), dir, version)
	require.NoError(t, err)
	require.Equal(t, version, v)
	raw, err := RawDB(dir)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, raw.Close()) })
	return storetest.OldSchema{
		Exec: func(t *testing.T, q string, args ...any) int64 {
			res, err := raw.Exec(q, args...)
			require.NoError(t, err)
			n, err := res.RowsAffected()
			require.NoError(t, err)
			return n
		},
		Time: func(t time.Time) any { return t.UnixMicro() },
		MigrateLatest: func(t *testing.T) {
			_, err := Migrate(context.Background(), dir)
			require.NoError(t, err)
		},
		Open: func(t *testing.T) store.Store { return open(t, dir) },
	}
}

// TestMigrationDeviceNames runs migration 5 (device names) on a version-3 database holding duplicate names.
func TestMigrationDeviceNames(t *testing.T) {
	storetest.DeviceNamesMigration(t, oldSchema(t, 3))
}

// TestMigrationConsent runs migration 6 (CONSENT_REQUIRED; SQLite rebuilds the table) on a
// version-5 database holding a live session.
func TestMigrationConsent(t *testing.T) {
	storetest.ConsentMigration(t, oldSchema(t, 5))
}

// TestMigrationGateways runs migration 7 (device kinds, AMT gateways and targets) on a
// version-6 database holding a device with a session.
func TestMigrationGateways(t *testing.T) {
	storetest.GatewayMigration(t, oldSchema(t, 6))
}

// TestBenchGatewayPresence is make bench-gateway's SQLite half.
func TestBenchGatewayPresence(t *testing.T) {
	storetest.BenchGatewayPresence(t, open(t, migrated(t)), "sqlite")
}
