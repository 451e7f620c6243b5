package signaling

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// gatewayConsoleToken is a console token of a machine a gateway serves, as the control plane
// mints it.
func (r *testRelay) gatewayConsoleToken(t *testing.T, device, gateway, target, sid string) string {
	t.Helper()
	tok, _, err := r.issuer.Mint(auth.Claims{Subject: "alice", Audience: auth.AudienceConsole, Device: device, Session: sid,
		Agent: gateway, Target: target}, time.Minute)
	require.NoError(t, err)
	return tok
}

// TestGatewayRouting: the console of a machine a gateway serves signals with the gateway's
// agent, which learns the machine from session-start; an agent connected as the machine's
// own device id hears nothing of it; the gateway cannot reach a session of a device it does
// not serve; cutting the gateway cuts its machines' consoles.
func TestGatewayRouting(t *testing.T) {
	r := startRelay(t)
	const guid = "12345678-9abc-def0-1234-56789abcdef0"
	gw, err := r.dial(t, "/ws/agent", r.agentToken(t, "gw1"), "")
	require.NoError(t, err)
	impostor, err := r.dial(t, "/ws/agent", r.agentToken(t, "amt1"), "")
	require.NoError(t, err)
	other, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev2"), "")
	require.NoError(t, err)

	console, err := r.dial(t, "/ws/console", r.gatewayConsoleToken(t, "amt1", "gw1", guid, "s_amt"), r.origin())
	require.NoError(t, err)
	welcome := recvType(t, console, wire.TypeWelcome)
	var w wire.Welcome
	require.NoError(t, wire.DecodeData(welcome, &w))
	assert.Equal(t, "amt1", w.Device, "the console sees its machine, not the gateway")
	waitOnline(t, console)

	require.NoError(t, console.Send(wire.TypeJoin, "s_amt", wire.Join{Codecs: []string{"h264"}}))
	start := recvType(t, gw, wire.TypeSessionStart)
	assert.Equal(t, "s_amt", start.SID)
	var ss wire.SessionStart
	require.NoError(t, wire.DecodeData(start, &ss))
	assert.Equal(t, guid, ss.Target)

	require.NoError(t, gw.Send(wire.TypeOffer, "s_amt", wire.SDP{SDP: testSDP(1)}))
	recvType(t, console, wire.TypeOffer)
	expectNothing(t, impostor, 300*time.Millisecond)

	// Another device's session is not the gateway's to reach.
	c2, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev2", "s_dev2"), r.origin())
	require.NoError(t, err)
	waitOnline(t, c2)
	require.NoError(t, gw.Send(wire.TypeOffer, "s_dev2", wire.SDP{SDP: testSDP(1)}))
	e := recvType(t, gw, wire.TypeError)
	var em wire.ErrorMessage
	require.NoError(t, wire.DecodeData(e, &em))
	assert.Equal(t, wire.CodeForbidden, em.Code)
	expectNothing(t, c2, 300*time.Millisecond)
	expectNothing(t, other, 100*time.Millisecond)

	// Revoking the gateway cuts the consoles of the machines it serves.
	n, err := r.srv.DisconnectDevice(context.Background(), "gw1", "gateway revoked")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the gateway's connection and its machine's console")
	em = recvError(t, console)
	assert.Equal(t, wire.CodeSessionEnded, em.Code)
}

// TestMachinesReports: a gateway's machine reports reach the relay's hook with the
// connection they came on; a report out of bounds is dropped, not the gateway.
func TestMachinesReports(t *testing.T) {
	type report struct {
		device, conn string
		m            wire.Machines
	}
	var mu sync.Mutex
	var got []report
	var gone []string
	r := startRelayWith(t, func(c *Config) {
		c.OnMachines = func(_ context.Context, claims auth.Claims, conn string, m wire.Machines) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, report{claims.Device, conn, m})
		}
		c.OnAgentGone = func(claims auth.Claims, conn string) {
			mu.Lock()
			defer mu.Unlock()
			gone = append(gone, claims.Device+"/"+conn)
		}
	})
	gw, err := r.dial(t, "/ws/agent", r.agentToken(t, "gw1"), "")
	require.NoError(t, err)
	const guid = "12345678-9abc-def0-1234-56789abcdef0"
	up := wire.Machines{Reset: true, Up: []wire.Machine{{Target: guid, Name: "rack7-amt1", Tags: []string{"rack7"}}}}
	require.NoError(t, gw.Send(wire.TypeMachines, "", up))
	require.NoError(t, gw.Send(wire.TypeMachines, "", wire.Machines{Up: []wire.Machine{{Target: "bad target\n"}}}))
	require.NoError(t, gw.Send(wire.TypeMachines, "", wire.Machines{Down: []string{guid}}))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	}, 5*time.Second, 10*time.Millisecond)
	gw.Close()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(gone) == 1
	}, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, "gw1", got[0].device)
	assert.Equal(t, up, got[0].m)
	assert.Equal(t, wire.Machines{Down: []string{guid}}, got[1].m, "the bad report was dropped, the next one came")
	assert.Equal(t, got[0].conn, got[1].conn)
	assert.Equal(t, "gw1/"+got[0].conn, gone[0])
}
