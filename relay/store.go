package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/postgres"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
)

// openStore opens the control-plane store: PostgreSQL when DatabaseURL is set (its schema must
// already be migrated by `kvmrelay migrate`, run as the owning role), otherwise the embedded
// SQLite database in the data directory, migrated here so that one command runs everything.
// Either way a schema newer than this binary knows is refused (store.ErrSchemaTooNew).
func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cfg.DatabaseURL != "" {
		s, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("relay: open PostgreSQL store: %w", err)
		}
		return s, nil
	}
	if _, err := sqlite.Migrate(ctx, cfg.DataDir); err != nil {
		return nil, fmt.Errorf("relay: migrate embedded store in %s: %w", cfg.DataDir, err)
	}
	s, err := sqlite.Open(ctx, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("relay: open embedded store in %s: %w", cfg.DataDir, err)
	}
	return s, nil
}

// Migrate applies the store's migrations: PostgreSQL at databaseURL (connect as the owning
// role; appRole is created or updated for the relay to use), else SQLite in dataDir. It
// returns the schema version reached.
func Migrate(ctx context.Context, dataDir, databaseURL, appRole, appPassword string) (int, error) {
	if databaseURL != "" {
		return postgres.Migrate(ctx, databaseURL, postgres.MigrateOptions{AppRole: appRole, AppPassword: appPassword})
	}
	return sqlite.Migrate(ctx, dataDir)
}
