package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/store/postgres"
	"github.com/kvmrelay/kvmrelay/relay"
)

func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmrelay migrate", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "kvmrelay-data", "the embedded SQLite database's directory (without --database-url)")
	databaseURL := fs.String("database-url", "", "PostgreSQL URL of the database's owning role")
	appRole := fs.String("app-role", postgres.DefaultAppRole, "PostgreSQL role the relay connects as (created or updated: no superuser, no BYPASSRLS, owns nothing)")
	appPasswordFile := fs.String("app-password-file", "", "file holding the application role's password (set on every run, so it can rotate)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var password string
	if *appPasswordFile != "" {
		b, err := os.ReadFile(*appPasswordFile)
		if err != nil {
			return fmt.Errorf("--app-password-file: %w", err)
		}
		password = strings.TrimSpace(string(b))
	}
	v, err := relay.Migrate(ctx, *dataDir, *databaseURL, *appRole, password)
	if err != nil {
		return err
	}
	where := *dataDir
	if *databaseURL != "" {
		where = "PostgreSQL (application role " + *appRole + ")"
	}
	fmt.Printf("kvmrelay migrate: %s is at schema version %d\n", where, v)
	return nil
}
