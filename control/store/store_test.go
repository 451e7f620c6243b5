package store

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		require.True(t, ValidID(id), id)
		require.Equal(t, byte('4'), id[14], "version 4")
		require.False(t, seen[id])
		seen[id] = true
	}
	for _, id := range []string{"", "x", strings.ToUpper(NewID()), NewID() + "0", "00000000-0000-0000-0000-00000000000g",
		"00000000+0000-0000-0000-000000000000", "' OR 1=1 --                         "} {
		assert.False(t, ValidID(id), "%q", id)
	}
}

func TestCanTransition(t *testing.T) {
	all := []SessionState{SessionIdle, SessionRequested, SessionActive, SessionStopped, SessionError, "PAUSED"}
	allowed := map[[2]SessionState]bool{
		{SessionIdle, SessionRequested}: true, {SessionIdle, SessionStopped}: true, {SessionIdle, SessionError}: true,
		{SessionRequested, SessionActive}: true, {SessionRequested, SessionStopped}: true, {SessionRequested, SessionError}: true,
		{SessionActive, SessionStopped}: true, {SessionActive, SessionError}: true,
	}
	for _, from := range all {
		for _, to := range all {
			assert.Equal(t, allowed[[2]SessionState{from, to}], CanTransition(from, to), "%s → %s", from, to)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, r := range []Role{RoleOwner, RoleAdmin, RoleOperator, RoleViewer, RoleAuditor} {
		assert.True(t, r.Valid(), r)
	}
	for _, r := range []Role{"", "root", "Owner"} {
		assert.False(t, r.Valid(), r)
	}
}

func chain(t *testing.T, org string, n int) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	var prev *AuditEntry
	for i := range n {
		e, err := NewAuditEntry(org, prev, AuditRecord{
			Time: time.Date(2026, 1, 1, 0, 0, i, 999999999, time.FixedZone("x", 3600)), Actor: "user:a", Action: AuditLogin,
			Details: map[string]string{"b": "2", "a": "1"},
		})
		require.NoError(t, err)
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	return out
}

func TestAuditEncoding(t *testing.T) {
	org := NewID()
	es := chain(t, org, 2)
	assert.Equal(t, `{"v":1,"org":"`+org+`","seq":1,"time":"2025-12-31T23:00:00.999999Z","actor":"user:a","action":"login","target":"","details":{"a":"1","b":"2"}}`, es[0].Body,
		"canonical: fixed field order, sorted details, UTC microseconds")
	assert.Equal(t, GenesisHash, es[0].PrevHash)
	assert.Equal(t, es[0].Hash, es[1].PrevHash)
	got := AuditEntry{Seq: 1, Body: es[0].Body}
	require.NoError(t, DecodeAuditEntry(&got))
	assert.Equal(t, es[0].Record, got.Record)
	assert.Equal(t, time.UTC, got.Record.Time.Location())
}

func TestChainVerifier(t *testing.T) {
	org := NewID()
	good := chain(t, org, 4)
	cases := []struct {
		name    string
		mutate  func([]AuditEntry) []AuditEntry
		wantSeq int64 // 0: verifies
	}{
		{"intact", func(es []AuditEntry) []AuditEntry { return es }, 0},
		{"body", func(es []AuditEntry) []AuditEntry {
			es[1].Body = strings.Replace(es[1].Body, "login", "logout", 1)
			return es
		}, 2},
		{"hash", func(es []AuditEntry) []AuditEntry { es[2].Hash = GenesisHash; return es }, 3},
		{"prev", func(es []AuditEntry) []AuditEntry { es[0].PrevHash = es[3].Hash; return es }, 1},
		{"missing", func(es []AuditEntry) []AuditEntry { return append(es[:1], es[2:]...) }, 2},
		{"swapped", func(es []AuditEntry) []AuditEntry { es[1].Body, es[2].Body = es[2].Body, es[1].Body; return es }, 2},
		{"seq edited", func(es []AuditEntry) []AuditEntry { es[3].Seq = 40; return es }, 4},
		{"other org", func(es []AuditEntry) []AuditEntry { es[0].OrgID = NewID(); return es }, 1},
		{"garbage body", func(es []AuditEntry) []AuditEntry { es[1].Body = "{"; return es }, 2},
		{"unknown field", func(es []AuditEntry) []AuditEntry {
			es[1].Body = strings.Replace(es[1].Body, `"v":1`, `"v":1,"x":1`, 1)
			return es
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.mutate(append([]AuditEntry(nil), good...))
			v := NewChainVerifier(org)
			var err error
			for _, e := range es {
				if err = v.Next(e.OrgID, e.Seq, e.PrevHash, e.Hash, e.Body); err != nil {
					break
				}
			}
			if tc.wantSeq == 0 {
				require.NoError(t, err)
				assert.Equal(t, int64(len(es)), v.Count())
				return
			}
			var ce *ChainError
			require.ErrorAs(t, err, &ce)
			assert.ErrorIs(t, err, ErrChainBroken)
			assert.Equal(t, tc.wantSeq, ce.Seq, "%v", err)
		})
	}
}

func TestSchemaError(t *testing.T) {
	err := error(&SchemaError{Have: 3, Want: 2, Err: ErrSchemaTooNew})
	assert.ErrorIs(t, err, ErrSchemaTooNew)
	assert.ErrorContains(t, err, "version 3")
}
