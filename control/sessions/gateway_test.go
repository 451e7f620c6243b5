package sessions

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

const amtGUID = "12345678-9abc-def0-1234-56789abcdef0"

// gateway adds a gateway to the fixture's organization and a machine it serves.
func (f *fixture) gateway(t *testing.T, name string) (gw, served store.Device) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		var err error
		if gw, err = tx.CreateDevice(ctx, store.Device{Name: name, Kind: store.DeviceGateway, CreatedAt: f.clk.Now()}); err != nil {
			return err
		}
		served, err = tx.CreateDevice(ctx, store.Device{Name: name + "-amt", GatewayID: gw.ID, Target: amtGUID, CreatedAt: f.clk.Now()})
		return err
	}))
	return gw, served
}

// TestStartOnGateways: a gateway has no console; a served device's link names the gateway's
// agent and the machine's GUID, a plain device's names neither; a revoked gateway's machines
// open no console.
func TestStartOnGateways(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	gw, served := f.gateway(t, "mps-gw")

	_, err := f.m.Start(ctx, f.org.ID, f.ann, gw.ID, wire.GrantControl)
	require.ErrorIs(t, err, ErrGatewayDevice)
	assert.EqualError(t, err, "mps-gw is a gateway: it has no screen of its own; open one of the machines it serves.")

	tests := []struct {
		name          string
		device        string
		agent, target string
	}{
		{"served device", served.ID, gw.ID, amtGUID},
		{"plain device", f.device.ID, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			started, err := f.m.Start(ctx, f.org.ID, f.ann, tc.device, wire.GrantControl)
			require.NoError(t, err)
			c := f.consoleClaims(t, started)
			assert.Equal(t, tc.device, c.Device)
			assert.Equal(t, tc.agent, c.Agent)
			assert.Equal(t, tc.target, c.Target)
			require.NoError(t, f.m.Redeemable(ctx, c))
		})
	}

	// Only the gateway's row revoked (the device service revokes both; this is a row changed
	// behind its back): its machines still open nothing.
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, gw.ID, f.clk.Now()) }))
	_, err = f.m.Start(ctx, f.org.ID, f.ann, served.ID, wire.GrantControl)
	require.ErrorIs(t, err, ErrGatewayRevoked)
	assert.Contains(t, err.Error(), "mps-gw-amt is reached through gateway mps-gw, which is revoked")
}

// TestStopDevices: the live sessions of every listed device stop, others' go on.
func TestStopDevices(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	gw, served := f.gateway(t, "gw")
	_, other := f.gateway(t, "gw2")
	var stopped, kept []string
	for _, d := range []string{served.ID, served.ID, other.ID, f.device.ID} {
		s, err := f.m.Start(ctx, f.org.ID, f.ann, d, wire.GrantControl)
		require.NoError(t, err)
		if d == served.ID {
			stopped = append(stopped, s.Session.ID)
		} else {
			kept = append(kept, s.Session.ID)
		}
	}
	n, err := f.m.StopDevices(ctx, f.org.ID, map[string]bool{gw.ID: true, served.ID: true}, "user:admin", "device revoked with its gateway")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for _, sid := range stopped {
		assert.Equal(t, store.SessionStopped, f.session(t, sid).Current)
		assert.Equal(t, "device revoked with its gateway", f.cut.reason(sid), "the console is cut")
	}
	for _, sid := range kept {
		assert.Equal(t, store.SessionRequested, f.session(t, sid).Current)
	}
}
