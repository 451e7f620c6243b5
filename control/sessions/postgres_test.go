package sessions

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/postgres"
)

// postgresStore is a fresh PostgreSQL database, migrated by its owner and used through the
// unprivileged application role under Row-Level Security, as in production.
func postgresStore(t *testing.T) store.Store {
	t.Helper()
	owner := pg.Get(t).CreateDatabase(t)
	role := "kvmrelay_app_" + strings.ReplaceAll(store.NewID()[:8], "-", "")
	const password = "app-secret"
	_, err := postgres.Migrate(context.Background(), owner, postgres.MigrateOptions{AppRole: role, AppPassword: password})
	require.NoError(t, err)
	u, err := url.Parse(owner)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	st, err := postgres.Open(context.Background(), u.String())
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, st.Close()) })
	return st
}
