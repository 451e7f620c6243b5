package relay

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestGatewayLinks: a gateway's machines reports reach the store as they change: up, down, a
// reconnection's full list in parts (what it leaves out went down while the gateway was away,
// and only at its last part), and a machine MPS tags with one of the gateway's tags is adopted
// and marked up; another gateway's machine and a revoked one are never touched.
func TestGatewayLinks(t *testing.T) {
	d := startDevRelay(t, nil)
	ctx := context.Background()
	guid := func(n string) string { return "00000000-0000-4000-8000-00000000000" + n }
	var gw, other string
	served := map[string]string{}
	require.NoError(t, d.Store().Write(ctx, d.org, func(tx store.Tx) error {
		g, err := tx.CreateDevice(ctx, store.Device{Name: "mps-gw", Kind: store.DeviceGateway, AMTTags: []string{"rack9"}})
		if err != nil {
			return err
		}
		o, err := tx.CreateDevice(ctx, store.Device{Name: "other-gw", Kind: store.DeviceGateway})
		if err != nil {
			return err
		}
		gw, other = g.ID, o.ID
		for _, n := range []string{"1", "2", "3", "4"} {
			m, err := tx.CreateDevice(ctx, store.Device{Name: "amt" + n, GatewayID: gw, Target: guid(n)})
			if err != nil {
				return err
			}
			served[n] = m.ID
		}
		o1, err := tx.CreateDevice(ctx, store.Device{Name: "their-amt1", GatewayID: other, Target: guid("1")})
		served["other"] = o1.ID
		if err != nil {
			return err
		}
		return tx.RevokeDevice(ctx, served["4"], time.Now())
	}))
	id, err := enroll.Enroll(ctx, filepath.Join(t.TempDir(), "state"), d.token(t, gw, time.Hour), d.client(t, nil))
	require.NoError(t, err)
	linked := func() map[string]bool {
		out := map[string]bool{}
		for n, dev := range served {
			out[n] = d.storedDevice(t, dev).LinkUp
		}
		return out
	}
	waitLinked := func(want map[string]bool, what string) {
		t.Helper()
		require.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, linked()) }, 5*time.Second, 20*time.Millisecond,
			"%s: links %v, want %v", what, linked(), want)
	}
	send := func(c interface {
		Send(wire.Type, string, any) error
	}, m wire.Machines) {
		t.Helper()
		require.NoError(t, c.Send(wire.TypeMachines, "", m))
	}
	up := func(ns ...string) []wire.Machine {
		var out []wire.Machine
		for _, n := range ns {
			out = append(out, wire.Machine{Target: guid(n)})
		}
		return out
	}

	c1, err := d.dialAgent(t, id)
	require.NoError(t, err)
	send(c1, wire.Machines{Reset: true, Up: up("1", "2", "4")})
	waitLinked(map[string]bool{"1": true, "2": true, "3": false, "4": false, "other": false}, "the first list")
	send(c1, wire.Machines{Down: []string{guid("2")}})
	waitLinked(map[string]bool{"1": true, "2": false, "3": false, "4": false, "other": false}, "a machine down")
	c1.Close()

	// Machine 1 went down while the gateway was away: its list leaves it out.
	c2, err := d.dialAgent(t, id)
	require.NoError(t, err)
	send(c2, wire.Machines{Reset: true, More: true, Up: up("2")})
	waitLinked(map[string]bool{"1": true, "2": true, "3": false, "4": false, "other": false}, "the list's first part: nothing left out yet")
	send(c2, wire.Machines{Up: up("3")})
	waitLinked(map[string]bool{"1": false, "2": true, "3": true, "4": false, "other": false}, "the list complete")

	// A machine MPS tags rack9, unknown so far: adopted, and up.
	send(c2, wire.Machines{Up: []wire.Machine{{Target: guid("9"), Name: "rack9-amt9", Tags: []string{"rack9"}}}})
	var adopted store.Device
	require.Eventually(t, func() bool {
		require.NoError(t, d.Store().Read(ctx, d.org, func(tx store.Tx) error {
			all, err := tx.ServedDevices(ctx, gw)
			for _, m := range all {
				if m.Target == guid("9") {
					adopted = m
				}
			}
			return err
		}))
		return adopted.ID != "" && adopted.LinkUp
	}, 5*time.Second, 20*time.Millisecond, "the tagged machine adopted and up")
	assert.Equal(t, "rack9-amt9", adopted.Name)
}
