package denied

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestBudget: a flood from one principal writes Burst entries, then one per Every; another
// principal has its own budget; attempts without an organization write nothing.
func TestBudget(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := sqlite.Migrate(ctx, dir)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	org, err := st.CreateOrganization(ctx, store.Organization{Name: "Acme", Slug: "acme"})
	require.NoError(t, err)
	clk := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := New(Config{Store: st, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})

	flood := func(actor string, n int) (recorded int) {
		for i := range n {
			if a.Record(ctx, Attempt{OrgID: org.ID, Actor: actor, Target: fmt.Sprint("device:", i), Details: map[string]string{"status": "403"}}) {
				recorded++
			}
		}
		return recorded
	}
	assert.Equal(t, Burst, flood("user:mallory", 1000))
	assert.Equal(t, Burst, flood("user:ann", 20), "each principal has its own budget")
	clk.Add(Every)
	assert.Equal(t, 1, flood("user:mallory", 1000), "then one per interval")
	assert.False(t, a.Record(ctx, Attempt{Actor: "user:x", Target: "session:s"}), "no organization, no chain")

	n, err := st.VerifyAudit(ctx, org.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2*Burst+1), n)
	require.NoError(t, st.Read(ctx, org.ID, func(tx store.Tx) error {
		es, err := tx.Audit(ctx, 0, 1)
		require.NoError(t, err)
		assert.Equal(t, store.AuditAccessDenied, es[0].Record.Action)
		assert.Equal(t, "403", es[0].Record.Details["status"])
		return nil
	}))
}
