package accounts

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store/postgres"
)

// TestLoginRefreshReusePostgres runs the login → refresh → reuse path on PostgreSQL, as the
// unprivileged application role under Row-Level Security: there the failed rotation aborts
// its transaction, and the family must be revoked in a new one.
func TestLoginRefreshReusePostgres(t *testing.T) {
	owner := pg.Get(t).CreateDatabase(t)
	const role, password = "kvmrelay_app_accounts", "app-secret"
	_, err := postgres.Migrate(context.Background(), owner, postgres.MigrateOptions{AppRole: role, AppPassword: password})
	require.NoError(t, err)
	u, err := url.Parse(owner)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	st, err := postgres.Open(context.Background(), u.String())
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, st.Close()) })

	testLoginRefreshReuse(t, newEnvOn(t, st, nil))
}
