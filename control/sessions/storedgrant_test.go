package sessions

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestStoredGrantFollowsRights: a session records the grant it started with, and the one its
// console holds after a rights change once the console is checked, so session lists show
// what each console may do now.
func TestStoredGrantFollowsRights(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	assert.Equal(t, "control", f.session(t, started.Session.ID).Grant)
	claims := f.consoleClaims(t, started)
	_, err = f.m.Admit(ctx, claims)
	require.NoError(t, err)

	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		_, id, _ := strings.Cut(f.ann, ":")
		u, err := tx.User(ctx, id)
		if err != nil {
			return err
		}
		u.Role = store.RoleViewer
		return tx.UpdateUser(ctx, u)
	}))
	grant, err := f.m.Check(ctx, claims)
	require.NoError(t, err)
	assert.Equal(t, wire.GrantView, grant)
	assert.Equal(t, "view", f.session(t, started.Session.ID).Grant)
}
