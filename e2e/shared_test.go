package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// sharedParticipant is one console on the shared device, opened with the rights of a principal
// of the organization.
type sharedParticipant struct {
	name string
	con  *testconsole.Console
}

// keyAs sends one key press (down, up) from p, as its console's hid channel carries it.
func (p *sharedParticipant) keyAs(t *testing.T, u hid.Usage) {
	t.Helper()
	for _, down := range []bool{true, false} {
		msg, err := hid.Encode(hid.KeyMsg{Usage: u, Down: down})
		require.NoError(t, err)
		require.NoError(t, p.con.SendHID(msg))
	}
}

// openAs opens a console on deviceID with a new API key of role named name, as a hostile
// client would: a Go console that sends whatever it likes on its data channels.
func openAs(t *testing.T, ctx context.Context, s *stack, tn *tenant, deviceID, name, role string) *sharedParticipant {
	t.Helper()
	key, err := tn.api.CreateAPIKey(ctx, client.NewAPIKey{Name: name, Role: role})
	require.NoError(t, err)
	api, err := client.New(client.Config{Server: s.url, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	_, err = api.LoginAPIKey(ctx, key.Key)
	require.NoError(t, err)
	started, err := api.StartConsole(ctx, deviceID)
	require.NoError(t, err, "a %s may open a console", role)
	code, err := testconsole.CodeFromLink(started.ConsoleURL)
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code})
	require.NoError(t, err)
	t.Cleanup(con.Close)
	require.NoError(t, con.WaitChannels(ctx), "%s's data channels", name)
	return &sharedParticipant{name: name, con: con}
}

// controllerIs waits until p's roster names who as the participant in control.
func controllerIs(t *testing.T, ctx context.Context, p *sharedParticipant, who *sharedParticipant) wire.Roster {
	t.Helper()
	want := ""
	if who != nil {
		want = who.con.SID()
	}
	r, err := p.con.WaitRoster(ctx, "the controller is "+want, func(r wire.Roster) bool { return r.Controller == want })
	require.NoError(t, err, "%s's roster", p.name)
	return r
}

// keysReach asserts that a key press of p reaches the machine (or not): the test pattern counts
// the key-downs it receives.
func keysReach(t *testing.T, dev *testpattern.Source, p *sharedParticipant, reach bool) {
	t.Helper()
	before := dev.KeyDownCount()
	p.keyAs(t, hid.UsageA)
	if reach {
		require.Eventually(t, func() bool { return dev.KeyDownCount() == before+1 }, 5*time.Second, 5*time.Millisecond,
			"%s's key reaches the machine", p.name)
		return
	}
	// A dropped key leaves no trace to wait for: give it the time a delivered one takes many
	// times over, then check nothing arrived.
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, before, dev.KeyDownCount(), "%s's key is dropped at the agent", p.name)
}

// TestSharedControlEnforcedAtAgent is SECURITY.md item 13 against clients that ignore the
// console's rules: three consoles on one device (owner, operator, viewer) each send keys on
// their own data channel; only the one in control reaches the machine. Control moves only
// through the handoff (request → approve, an admin's take), every participant sees it, and
// the moves and the input are in the audit chain.
func TestSharedControlEnforcedAtAgent(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack7-db1", nil)
	machine := runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 15})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lead := openAs(t, ctx, s, acme, dev.ID, "Lena (admin)", "admin")
	controllerIs(t, ctx, lead, lead) // alone, control-capable: in control at once
	olga := openAs(t, ctx, s, acme, dev.ID, "Olga (operator)", "operator")
	vic := openAs(t, ctx, s, acme, dev.ID, "Victor (viewer)", "viewer")

	r := controllerIs(t, ctx, vic, lead)
	names := map[string]wire.Grant{}
	for _, p := range r.Participants {
		names[p.Name] = p.Grant
	}
	assert.Equal(t, map[string]wire.Grant{"API key Lena (admin)": wire.GrantAdmin, "API key Olga (operator)": wire.GrantControl,
		"API key Victor (viewer)": wire.GrantView}, names, "everyone sees everyone by name (an API key as one), with their grant")

	keysReach(t, machine, lead, true)
	keysReach(t, machine, olga, false)
	keysReach(t, machine, vic, false)

	// A viewer may not ask for control: the relay refuses, and the agent never hears of it.
	require.NoError(t, vic.con.Control(wire.Control{Action: wire.ControlRequest}))
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(vic.con.Errors(), func(e wire.ErrorMessage) bool { return e.Code == wire.CodeForbidden })
	}, 5*time.Second, 10*time.Millisecond, "the viewer's request is refused")

	// Olga asks; Lena is asked and approves; now Olga types and Lena does not.
	require.NoError(t, olga.con.Control(wire.Control{Action: wire.ControlRequest}))
	_, err := lead.con.WaitRoster(ctx, "Olga's request is pending", func(r wire.Roster) bool {
		return r.Request != nil && r.Request.From == olga.con.SID()
	})
	require.NoError(t, err)
	require.NoError(t, lead.con.Control(wire.Control{Action: wire.ControlApprove, From: olga.con.SID()}))
	r = controllerIs(t, ctx, lead, olga)
	require.NotNil(t, r.Event)
	assert.Equal(t, wire.EventGranted, r.Event.Kind)
	assert.Equal(t, lead.con.SID(), r.Event.By, "Lena is told she handed control over")
	controllerIs(t, ctx, vic, olga)
	keysReach(t, machine, olga, true)
	keysReach(t, machine, lead, false)

	// An operator cannot take control; an admin can, and the one who had it is told.
	require.NoError(t, olga.con.Control(wire.Control{Action: wire.ControlRelease}))
	controllerIs(t, ctx, olga, nil)
	require.NoError(t, olga.con.Control(wire.Control{Action: wire.ControlRequest}))
	controllerIs(t, ctx, olga, olga) // free control is granted on request
	require.NoError(t, lead.con.Control(wire.Control{Action: wire.ControlTake}))
	r = controllerIs(t, ctx, olga, lead)
	require.NotNil(t, r.Event)
	assert.Equal(t, wire.EventTaken, r.Event.Kind)
	assert.Equal(t, olga.con.SID(), r.Event.Subject, "Olga is told her control was taken")
	keysReach(t, machine, lead, true)
	keysReach(t, machine, olga, false)

	// A participant leaving is shown to the others.
	vic.con.Close()
	_, err = lead.con.WaitRoster(ctx, "Victor left", func(r wire.Roster) bool {
		return !slices.ContainsFunc(r.Participants, func(p wire.Participant) bool { return p.Name == "API key Victor (viewer)" })
	})
	require.NoError(t, err)

	// The audit chain has who held control when, and their input per burst, never the keys.
	var kinds []string
	var bursts []map[string]any
	require.Eventually(t, func() bool {
		kinds, bursts = nil, nil
		err := acme.api.ExportAudit(ctx, 0, 500, func(e client.AuditEntry) error {
			var details map[string]any
			if len(e.Details) > 0 {
				if err := json.Unmarshal(e.Details, &details); err != nil {
					return err
				}
			}
			switch e.Action {
			case "console_control":
				kind, _ := details["kind"].(string)
				kinds = append(kinds, kind)
			case "console_input":
				bursts = append(bursts, details)
			}
			return nil
		})
		return err == nil && slices.Contains(kinds, wire.EventTaken) && len(bursts) >= 2
	}, 10*time.Second, 100*time.Millisecond, "control moves and input bursts audited")
	for _, k := range []string{wire.EventRequested, wire.EventGranted, wire.EventReleased, wire.EventTaken} {
		assert.Contains(t, kinds, k)
	}
	for _, b := range bursts {
		digest, _ := b["digest"].(string)
		assert.Len(t, digest, 64, "a burst carries the digest of its events: %v", b)
		for k := range b {
			assert.Contains(t, []string{"session", "from", "to", "keys", "pointer", "digest", "final", "device_name"}, k,
				"a burst says how much, never which keys")
		}
	}
	v, err := acme.api.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, v.OK, "the chain verifies: %+v", v)
}
