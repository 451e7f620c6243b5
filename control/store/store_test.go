package store

import (
	"fmt"
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
			Time: time.Date(2026, 1, 1, 0, 0, i, 999999999, time.FixedZone("x", 3600)), Actor: "user:a", ActorName: "ann@example.com", Action: AuditLogin,
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
	assert.Equal(t, `{"v":2,"org":"`+org+`","seq":1,"time":"2025-12-31T23:00:00.999999Z","actor":"user:a","actor_name":"ann@example.com","action":"login","target":"","details":{"a":"1","b":"2"}}`, es[0].Body,
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
			es[1].Body = strings.Replace(es[1].Body, `"v":2`, `"v":2,"x":1`, 1)
			return es
		}, 2},
		{"actor name altered", func(es []AuditEntry) []AuditEntry {
			es[2].Body = strings.Replace(es[2].Body, "ann@example.com", "bob@example.com", 1)
			return es
		}, 3},
		{"actor name removed", func(es []AuditEntry) []AuditEntry {
			es[1].Body = strings.Replace(es[1].Body, `"actor_name":"ann@example.com",`, "", 1)
			return es
		}, 2},
		// Rewritten and rehashed from there on (what only a witness or the anchor catches),
		// the bodies must still be well-formed versions.
		{"v1 body with actor name, rehashed", func(es []AuditEntry) []AuditEntry {
			return rehashFrom(es, 1, func(b string) string { return strings.Replace(b, `"v":2`, `"v":1`, 1) })
		}, 2},
		{"unknown version, rehashed", func(es []AuditEntry) []AuditEntry {
			return rehashFrom(es, 2, func(b string) string { return strings.Replace(b, `"v":2`, `"v":3`, 1) })
		}, 3},
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

// rehashFrom edits the body at index i and recomputes every hash from there, as someone with
// write access to the table could.
func rehashFrom(es []AuditEntry, i int, edit func(string) string) []AuditEntry {
	es[i].Body = edit(es[i].Body)
	for j := i; j < len(es); j++ {
		if j > 0 {
			es[j].PrevHash = es[j-1].Hash
		}
		es[j].Hash, _ = ChainHash(es[j].PrevHash, es[j].Body)
	}
	return es
}

// legacyV1Body is an entry exactly as relays before actor names wrote it.
func legacyV1Body(org string, seq int64) string {
	return fmt.Sprintf(`{"v":1,"org":"%s","seq":%d,"time":"2025-12-31T23:00:00.999999Z","actor":"user:a","action":"login","target":"","details":{"a":"1"}}`, org, seq)
}

// TestChainVersions: a chain begun by an older relay (v1 bodies, no actor names) and continued
// by this one (v2) verifies as a whole, and both kinds decode.
func TestChainVersions(t *testing.T) {
	org := NewID()
	var es []AuditEntry
	prev := GenesisHash
	for seq := int64(1); seq <= 2; seq++ {
		body := legacyV1Body(org, seq)
		h, err := ChainHash(prev, body)
		require.NoError(t, err)
		es = append(es, AuditEntry{OrgID: org, Seq: seq, PrevHash: prev, Hash: h, Body: body})
		prev = h
	}
	e, err := NewAuditEntry(org, &es[1], AuditRecord{Time: time.Now(), Actor: "apikey:k", ActorName: "API key ci", Action: AuditDeviceUpdate})
	require.NoError(t, err)
	es = append(es, e)
	v := NewChainVerifier(org)
	for _, e := range es {
		require.NoError(t, v.Next(e.OrgID, e.Seq, e.PrevHash, e.Hash, e.Body))
	}
	assert.Equal(t, int64(3), v.Count())
	require.NoError(t, DecodeAuditEntry(&es[0]))
	assert.Empty(t, es[0].Record.ActorName)
	assert.Equal(t, "user:a", es[0].Record.Actor)
	require.NoError(t, DecodeAuditEntry(&es[2]))
	assert.Equal(t, "API key ci", es[2].Record.ActorName)
}

func TestSchemaError(t *testing.T) {
	err := error(&SchemaError{Have: 3, Want: 2, Err: ErrSchemaTooNew})
	assert.ErrorIs(t, err, ErrSchemaTooNew)
	assert.ErrorContains(t, err, "version 3")
}
