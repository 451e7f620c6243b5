package device

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestReports: a gateway connection's reports reach its machines' rows as they change; a
// reconnection's full list, in parts, marks down what it left out only at its last part;
// machines adopted after their report are marked up only while the gateway still reports
// them up.
func TestReports(t *testing.T) {
	e := newServiceEnv(t)
	ctx := context.Background()
	gw := e.create(t, NewDevice{Name: "mps-gw", Kind: store.DeviceGateway})
	guid := func(n string) string { return "00000000-0000-4000-8000-00000000000" + n }
	ids := map[string]string{}
	for _, n := range []string{"1", "2", "3"} {
		ids[n] = e.create(t, NewDevice{Name: "amt" + n, AMT: &AMT{Gateway: gw.ID, GUID: guid(n)}}).ID
	}
	r := NewReports(e.st)
	record := func(conn string, rep Report) {
		t.Helper()
		require.NoError(t, r.Record(ctx, e.admin.OrgID, gw.ID, conn, rep))
	}
	up := func(ns ...string) []Discovered {
		var out []Discovered
		for _, n := range ns {
			out = append(out, Discovered{Target: guid(n)})
		}
		return out
	}
	linked := func() map[string]bool {
		out := map[string]bool{}
		for n, id := range ids {
			out[n] = e.device(t, id).LinkUp
		}
		return out
	}

	record("a_1", Report{Reset: true, Up: append(up("1", "2"), Discovered{Target: "00000000-0000-4000-8000-0000000000AB"})}) // one it does not serve
	assert.Equal(t, map[string]bool{"1": true, "2": true, "3": false}, linked())
	record("a_1", Report{Down: []string{guid("2")}})
	assert.Equal(t, map[string]bool{"1": true, "2": false, "3": false}, linked())
	r.Gone("a_1")

	// Machine 1 went down while the gateway was away.
	record("a_2", Report{Reset: true, More: true, Up: up("2")})
	assert.Equal(t, map[string]bool{"1": true, "2": true, "3": false}, linked(), "nothing left out before the last part")
	record("a_2", Report{Up: up("3")})
	assert.Equal(t, map[string]bool{"1": false, "2": true, "3": true}, linked())

	// Adopted machines: up only if the gateway still reports them up.
	record("a_2", Report{Down: []string{guid("3")}})
	require.NoError(t, r.MarkAdopted(ctx, e.admin.OrgID, gw.ID, up("2", "3")))
	assert.Equal(t, map[string]bool{"1": false, "2": true, "3": false}, linked())
}
