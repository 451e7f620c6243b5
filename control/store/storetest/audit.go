package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func appendN(t *testing.T, s store.Store, org string, n int) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for i := range n {
		e, err := s.AppendAudit(ctxT(t), org, store.AuditRecord{
			Time:    epoch.Add(time.Duration(i) * time.Second),
			Actor:   "user:ann",
			Action:  store.AuditLogin,
			Target:  fmt.Sprintf("session-%d", i),
			Details: map[string]string{"ip": "192.0.2.1", "ua": "<script>"},
		})
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func testAuditAppendVerify(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	n, err := b.Store.VerifyAudit(ctx, o.ID)
	require.NoError(t, err)
	assert.Zero(t, n, "an empty chain verifies")

	appended := appendN(t, b.Store, o.ID, 5)
	assert.Equal(t, store.GenesisHash, appended[0].PrevHash)
	for i := 1; i < len(appended); i++ {
		assert.Equal(t, int64(i+1), appended[i].Seq)
		assert.Equal(t, appended[i-1].Hash, appended[i].PrevHash)
	}
	n, err = b.Store.VerifyAudit(ctx, o.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)

	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		got, err := tx.Audit(ctx, 1, 3)
		require.NoError(t, err)
		require.Len(t, got, 3)
		assert.Equal(t, appended[1:4], got, "what was hashed is what comes back, to the microsecond")
		assert.Equal(t, us(epoch.Add(time.Second)), got[0].Record.Time)
		assert.Equal(t, "<script>", got[0].Record.Details["ua"])
		return nil
	}))
	_, err = b.Store.AppendAudit(ctx, o.ID, store.AuditRecord{Time: epoch})
	assert.ErrorIs(t, err, store.ErrInvalid, "an entry needs an action")
}

// testAuditTamper alters one row of a 6-row chain in each way a row can be altered, behind
// the store's back, and requires verify to name exactly that row.
func testAuditTamper(t *testing.T, b Backend) {
	const rows = 6
	cases := []struct {
		name  string
		query string // args: org, seq
	}{
		{"body", `UPDATE audit_entries SET body = replace(body, 'login', 'logout') WHERE org_id = ? AND seq = ?`},
		{"body one byte", `UPDATE audit_entries SET body = replace(body, '192.0.2.1', '192.0.2.2') WHERE org_id = ? AND seq = ?`},
		{"hash", `UPDATE audit_entries SET hash = '` + store.GenesisHash[:63] + `1' WHERE org_id = ? AND seq = ?`},
		// Always a different value: a hash that already starts with ff becomes 00….
		{"prev_hash", `UPDATE audit_entries SET prev_hash = (CASE WHEN substr(prev_hash, 1, 2) = 'ff' THEN '00' ELSE 'ff' END) || substr(prev_hash, 3) WHERE org_id = ? AND seq = ?`},
		{"deleted", `DELETE FROM audit_entries WHERE org_id = ? AND seq = ?`},
		{"renumbered", `UPDATE audit_entries SET seq = seq + 1000 WHERE org_id = ? AND seq = ?`},
	}
	for _, tc := range cases {
		for _, seq := range []int64{1, 3, rows} {
			t.Run(fmt.Sprintf("%s/seq%d", tc.name, seq), func(t *testing.T) {
				ctx := ctxT(t)
				o := newOrg(t, b.Store, "Acme")
				control := newOrg(t, b.Store, "Control")
				appendN(t, b.Store, o.ID, rows)
				appendN(t, b.Store, control.ID, rows)
				require.Equal(t, int64(1), b.Exec(t, tc.query, o.ID, seq))

				_, err := b.Store.VerifyAudit(ctx, o.ID)
				var ce *store.ChainError
				// Losing the newest row leaves a valid shorter chain: the anchored head is what
				// names it.
				require.ErrorAs(t, err, &ce)
				assert.ErrorIs(t, err, store.ErrChainBroken)
				assert.Equal(t, seq, ce.Seq, "verify names the altered row: %v", err)
				assert.Equal(t, o.ID, ce.OrgID)

				n, err := b.Store.VerifyAudit(ctx, control.ID)
				require.NoError(t, err, "another tenant's chain is untouched")
				assert.Equal(t, int64(rows), n)
			})
		}
	}
}

// testAuditConcurrent is SECURITY.md item 9: 100 concurrent appends per tenant from two store
// instances (two pools, as two relay processes would have) make one unbroken chain each.
func testAuditConcurrent(t *testing.T, b Backend) {
	const perTenant = 100
	ctx := ctxT(t)
	stores := []store.Store{b.Store, b.Open(t)}
	orgs := []store.Organization{newOrg(t, b.Store, "a"), newOrg(t, b.Store, "b")}
	var wg sync.WaitGroup
	errs := make(chan error, perTenant*len(orgs))
	for _, o := range orgs {
		for i := range perTenant {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := stores[i%2].AppendAudit(ctx, o.ID, store.AuditRecord{
					Time: time.Now(), Actor: fmt.Sprintf("writer-%d", i%2), Action: store.AuditConsoleStart, Target: fmt.Sprint(i),
				})
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, o := range orgs {
		n, err := b.Store.VerifyAudit(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(perTenant), n)
		require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
			es, err := tx.Audit(ctx, 0, 2*perTenant)
			require.NoError(t, err)
			require.Len(t, es, perTenant)
			targets := map[string]bool{}
			for _, e := range es {
				targets[e.Record.Target] = true
			}
			assert.Len(t, targets, perTenant, "every append is in the chain once")
			return nil
		}))
	}
}

// testAuditTruncation: the newest rows removed are named by the anchored head; with the anchor
// rewritten too, by a reader's witness of an earlier head; rows inserted behind the store's back
// with valid hashes are named by the anchor as well.
func testAuditTruncation(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	es := appendN(t, b.Store, o.ID, 6)
	witness := store.AuditHead{Seq: 6, Hash: es[5].Hash}
	head, err := b.Store.VerifyAuditChain(ctx, o.ID, witness)
	require.NoError(t, err)
	assert.Equal(t, witness, head)
	_, err = b.Store.VerifyAuditChain(ctx, o.ID, store.AuditHead{Seq: 3, Hash: es[2].Hash})
	require.NoError(t, err, "an older witness of the same chain")

	var ce *store.ChainError
	_, err = b.Store.VerifyAuditChain(ctx, o.ID, store.AuditHead{Seq: 3, Hash: es[3].Hash})
	require.ErrorAs(t, err, &ce, "a witness the chain does not hold")
	assert.Equal(t, int64(3), ce.Seq)

	assert.Equal(t, int64(2), b.Exec(t, `DELETE FROM audit_entries WHERE org_id = ? AND seq > 4`, o.ID))
	_, err = b.Store.VerifyAuditChain(ctx, o.ID, store.AuditHead{})
	require.ErrorAs(t, err, &ce, "the anchor names the truncation")
	assert.Equal(t, int64(5), ce.Seq)

	// An attacker who also moves the anchor back passes the store's own check, not a witness.
	assert.Equal(t, int64(1), b.Exec(t, `UPDATE organizations SET audit_head_seq = 4, audit_head_hash = ? WHERE id = ?`, es[3].Hash, o.ID))
	head, err = b.Store.VerifyAuditChain(ctx, o.ID, store.AuditHead{})
	require.NoError(t, err)
	assert.Equal(t, store.AuditHead{Seq: 4, Hash: es[3].Hash}, head)
	_, err = b.Store.VerifyAuditChain(ctx, o.ID, witness)
	require.ErrorAs(t, err, &ce, "the witness names the truncation")
	assert.Equal(t, int64(5), ce.Seq)
	assert.ErrorIs(t, err, store.ErrChainBroken)

	// A well-formed row appended behind the relay's back is past the anchor.
	forged, err := store.NewAuditEntry(o.ID, &es[3], store.AuditRecord{Time: epoch, Actor: "system", Action: store.AuditLogin})
	require.NoError(t, err)
	assert.Equal(t, int64(1), b.Exec(t, `INSERT INTO audit_entries (org_id, seq, prev_hash, hash, body) VALUES (?, ?, ?, ?, ?)`,
		o.ID, forged.Seq, forged.PrevHash, forged.Hash, forged.Body))
	_, err = b.Store.VerifyAuditChain(ctx, o.ID, store.AuditHead{})
	require.ErrorAs(t, err, &ce, "a forged tail")
	assert.Equal(t, int64(5), ce.Seq)

	// Appending through the store again anchors the new head.
	control := newOrg(t, b.Store, "Control")
	appendN(t, b.Store, control.ID, 2)
	n, err := b.Store.VerifyAudit(ctx, control.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
}
