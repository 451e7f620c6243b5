package storetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// testAuditActorNames: an entry records who its actor is (email, API key name, agent's device
// name) from the organization's own records, or the name the caller gave; a chain begun by a
// relay before actor names (v1 bodies) and continued by this one verifies; the name is hashed,
// so altering it is named like any other change.
func testAuditActorNames(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Other")
	u := mustUser(t, b.Store, o.ID, "vera@acme.example")
	d := mustDevice(t, b.Store, o.ID, "rack12-node3")
	foreign := mustUser(t, b.Store, other.ID, "eve@other.example")
	var k store.APIKey
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		k, err = tx.CreateAPIKey(ctx, store.APIKey{Prefix: "kvm_names", Hash: "h", Name: "ci-deploy", Role: store.RoleAdmin, CreatedAt: epoch})
		return err
	})

	// Two rows as a relay before actor names wrote them, behind the store's back (such chains
	// predate the anchor too).
	prev := store.GenesisHash
	for seq := int64(1); seq <= 2; seq++ {
		body := fmt.Sprintf(`{"v":1,"org":"%s","seq":%d,"time":"2026-01-01T00:00:00Z","actor":"user:%s","action":"login","target":"user:%s"}`,
			o.ID, seq, u.ID, u.ID)
		hash, err := store.ChainHash(prev, body)
		require.NoError(t, err)
		require.Equal(t, int64(1), b.Exec(t, `INSERT INTO audit_entries (org_id, seq, prev_hash, hash, body) VALUES (?, ?, ?, ?, ?)`,
			o.ID, seq, prev, hash, body))
		prev = hash
	}

	cases := []struct {
		actor, given, want string
	}{
		{"user:" + u.ID, "", "vera@acme.example"},
		{"apikey:" + k.ID, "", "API key ci-deploy"},
		{"device:" + d.ID, "", "agent rack12-node3"},
		{"oidc:sub-123", "vera@idp.example", "vera@idp.example"},
		{"user:" + u.ID, "as given", "as given"},
		{"system", "", ""},
		{"anonymous", "", ""},
		{"user:not-an-id", "", ""},
		{"user:" + store.NewID(), "", ""},   // gone, or never was
		{"user:" + foreign.ID, "", ""},      // another tenant's user is not named here
		{"device:" + u.ID, "", ""},          // a user's id is not a device's
		{"apikey:" + store.NewID(), "", ""}, // unknown key
	}
	for i, tc := range cases {
		e, err := b.Store.AppendAudit(ctx, o.ID, store.AuditRecord{Time: epoch, Actor: tc.actor, ActorName: tc.given,
			Action: store.AuditDeviceUpdate, Target: fmt.Sprint(i)})
		require.NoError(t, err, tc.actor)
		assert.Equal(t, tc.want, e.Record.ActorName, tc.actor)
	}
	n, err := b.Store.VerifyAudit(ctx, o.ID)
	require.NoError(t, err, "old and new rows verify together")
	assert.Equal(t, int64(2+len(cases)), n)

	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		es, err := tx.Audit(ctx, 0, 100)
		require.NoError(t, err)
		require.Len(t, es, 2+len(cases))
		assert.Equal(t, "user:"+u.ID, es[0].Record.Actor)
		assert.Empty(t, es[0].Record.ActorName, "a v1 row has no name")
		assert.Contains(t, es[2].Body, `"actor_name":"vera@acme.example"`, "the name is in the hashed body")
		assert.Equal(t, "vera@acme.example", es[2].Record.ActorName)
		return nil
	}))

	// Altering a recorded name, or adding one to an old row, is named.
	for _, tc := range []struct {
		name  string
		query string
		seq   int64
	}{
		{"name altered", `UPDATE audit_entries SET body = replace(body, 'vera@acme.example', 'eve@acme.example') WHERE org_id = ? AND seq = ?`, 3},
		{"name removed", `UPDATE audit_entries SET body = replace(body, '"actor_name":"API key ci-deploy",', '') WHERE org_id = ? AND seq = ?`, 4},
		{"name added to a v1 row", `UPDATE audit_entries SET body = replace(body, '"action"', '"actor_name":"someone else","action"') WHERE org_id = ? AND seq = ?`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var saved string
			require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
				es, err := tx.Audit(ctx, tc.seq-1, 1)
				require.NoError(t, err)
				saved = es[0].Body
				return nil
			}))
			require.Equal(t, int64(1), b.Exec(t, tc.query, o.ID, tc.seq))
			t.Cleanup(func() {
				b.Exec(t, `UPDATE audit_entries SET body = ? WHERE org_id = ? AND seq = ?`, saved, o.ID, tc.seq)
			})
			_, err := b.Store.VerifyAudit(ctx, o.ID)
			var ce *store.ChainError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.seq, ce.Seq, "%v", err)
		})
	}
	_, err = b.Store.VerifyAudit(ctx, o.ID)
	require.NoError(t, err, "restored")
}
