package testenv

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresMissingBinaries(t *testing.T) {
	t.Setenv("KVMRELAY_PG_BIN", t.TempDir())
	_, err := StartPostgres(context.Background())
	if !errors.Is(err, ErrPostgresMissing) {
		t.Fatalf("StartPostgres with no binaries: %v, want ErrPostgresMissing", err)
	}
}

// TestPostgresLifecycle starts a cluster, uses a fresh database, and checks Stop leaves
// neither a process nor a directory behind.
func TestPostgresLifecycle(t *testing.T) {
	var shared SharedPostgres
	srv := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, srv.CreateDatabase(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var fsync string
	if err := c.QueryRow(ctx, `SHOW fsync`).Scan(&fsync); err != nil {
		t.Fatalf("show fsync: %v", err)
	}
	if fsync != "off" {
		t.Errorf("fsync = %s, want off", fsync)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := pgx.Connect(ctx, srv.URL("postgres", "postgres", "wrong")); err == nil {
		t.Error("a wrong password connected: TCP must need a password")
	}
	if err := shared.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(srv.dir); !os.IsNotExist(err) {
		t.Errorf("cluster dir %s still there: %v", srv.dir, err)
	}
	select {
	case <-srv.done:
	default:
		t.Error("server process still running after Stop")
	}
}
