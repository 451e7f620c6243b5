package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/amt"
	"github.com/kvmrelay/kvmrelay/internal/amtsim"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/firmware"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/internal/vncserver"
)

// gatewayMachine is one simulated AMT machine behind the gateway's MPS, showing its own X
// desktop.
type gatewayMachine struct {
	guid    string
	w, h    int
	tags    []string // in MPS
	display *vncserver.Display
	vnc     string
}

// TestAMTGatewayTwoMachines is the gateway end to end: one kvmagent, enrolled once as the
// gateway of one MPS (--source amt+mps://USER@MPS, no GUID), serves two simulated AMT machines,
// each its own device row: one listed by GUID, the other adopted because MPS tags it with a
// tag the gateway serves (a third machine with that tag, never connected, is not). Both show
// online from the gateway's reports of
// their CIRA links; both consoles are open at once in Chromium, each with its own machine's
// screen, a click in one lands on its machine only and keys typed in the other reach its own;
// the gateway itself has no console; revoking the gateway cuts both consoles and revokes the
// machines with it.
func TestAMTGatewayTwoMachines(t *testing.T) {
	machines := []*gatewayMachine{
		{guid: amtGUID, w: 1024, h: 768, tags: []string{"rack7"}},
		{guid: "7e1d3c2b-4f50-4b7c-9d8e-0f1a2b3c4d5e", w: 800, h: 600, tags: []string{"lab", "rack9"}},
	}
	var records []fakemps.Record
	for i, gm := range machines {
		gm.display = vncserver.Xvfb(t, gm.w, gm.h)
		gm.vnc = vncserver.X11VNC(t, gm.display, "")
		records = append(records, fakemps.Record{Info: fakemps.DeviceInfo{GUID: gm.guid, Hostname: fmt.Sprintf("rack7-amt%d", i), MPSUsername: "cira", Tags: gm.tags},
			MPSPassword: "cira-Secret", AMTPassword: "amt-Secret1"})
	}
	const neverConnected = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e"
	records = append(records, fakemps.Record{Info: fakemps.DeviceInfo{GUID: neverConnected, Hostname: "rack9-spare", MPSUsername: "cira", Tags: []string{"rack9"}},
		MPSPassword: "cira-Secret", AMTPassword: "amt-Secret1"})
	m, err := amtsim.StartMPS(amtsim.MPSConfig{CIRAListen: "127.0.0.1:0", Listen: "127.0.0.1:0", TLS: true,
		WebUser: "admin", WebPassword: amtWebPassword, Logger: testLogger().With("component", "amtsim"), Devices: records})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	tlsCfg, err := m.ClientTLS()
	require.NoError(t, err)
	var sims []*amtsim.Machine
	for _, gm := range machines {
		sim, err := amtsim.StartMachine(amtsim.MachineConfig{GUID: gm.guid, MPSUser: "cira", MPSPassword: "cira-Secret",
			AMTPassword: "amt-Secret1", VNC: gm.vnc, Management: firmware.ManagementConfig{Width: gm.w, Height: gm.h},
			Logger: testLogger().With("component", "amtsim")}, m.CIRAAddr(), tlsCfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = sim.Close() })
		sims = append(sims, sim)
	}
	for _, gm := range machines {
		require.Eventually(t, func() bool { return m.Connected(gm.guid) }, 10*time.Second, 20*time.Millisecond, "the CIRA link of %s", gm.guid)
	}
	pctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	probes := []*vncserver.Probe{
		vncserver.StartProbe(pctx, t, machines[0].display, 100, 120, false),
		vncserver.StartProbe(pctx, t, machines[1].display, 100, 120, false),
	}

	// The admin enrolls the gateway once, serving what MPS tags rack9, and lists one more
	// machine by GUID.
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	gw, id, hc := enrollNewDevice(t, s, acme, client.NewDevice{Name: "mps-gw", Kind: client.DeviceGateway,
		Labels: map[string]string{"site": "fra1"}, AMTTags: []string{"rack9"}})
	assert.Equal(t, client.DeviceGateway, gw.Kind)
	byGUID, err := acme.api.CreateDeviceWith(pctx, client.NewDevice{Name: "rack7-amt0",
		AMT: &client.AMT{Gateway: "mps-gw", GUID: strings.ToUpper(machines[0].guid)}})
	require.NoError(t, err)
	assert.Equal(t, gw.ID, byGUID.Gateway)
	assert.Equal(t, machines[0].guid, byGUID.AMTGUID, "GUIDs are stored as MPS compares them")
	_, err = acme.api.CreateEnrollmentToken(pctx, byGUID.ID)
	require.Error(t, err, "a machine the gateway serves has no agent of its own")

	// kvmagent --source amt+mps://admin@MPS --mps-ca … with KVMAGENT_MPS_PASSWORD.
	u, err := url.Parse("amt+mps://admin@" + m.URL().Host)
	require.NoError(t, err)
	gateway, err := amt.NewGateway(u, device.Options{Logger: testLogger().With("component", "gateway"), FPS: 30, TLSRoots: tlsCfg.RootCAs,
		Lookup: func(name string) (string, bool) { return amtWebPassword, name == amt.MPSPasswordEnv }})
	require.NoError(t, err)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30, gateway: gateway})
	s.waitAgent(t)

	// The rack9 machine is adopted from the gateway's report: named as MPS names it, labelled
	// as its gateway plus its tag.
	var adopted client.Device
	require.Eventually(t, func() bool {
		all, err := acme.api.Devices(pctx)
		require.NoError(t, err)
		for _, d := range all {
			if d.AMTGUID == machines[1].guid {
				adopted = d
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "the machine tagged rack9 adopted")
	assert.Equal(t, "rack7-amt1", adopted.Name)
	assert.Equal(t, gw.ID, adopted.Gateway)
	assert.Equal(t, map[string]string{"site": "fra1", "mps-tag": "rack9"}, adopted.Labels)
	all, err := acme.api.Devices(pctx)
	require.NoError(t, err)
	served := 0
	for _, d := range all {
		assert.NotEqual(t, neverConnected, d.AMTGUID, "a machine whose link never came up is not adopted")
		if d.Gateway == gw.ID {
			served++
		}
	}
	assert.Equal(t, 2, served, "the machine listed by GUID is not adopted again")
	devs := []client.Device{byGUID, adopted}

	require.Eventually(t, func() bool {
		for _, d := range devs {
			got, err := acme.api.Device(pctx, d.ID)
			if err != nil || !got.Online {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "both machines online through the gateway's reports of their CIRA links")
	_, err = acme.api.StartConsole(pctx, gw.ID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no screen of its own")

	// Both consoles at once, each its machine's screen.
	browser := testenv.Chromium(t)
	tabs := make([]context.Context, len(devs))
	for i, d := range devs {
		tab, closeTab := chromedp.NewContext(browser)
		t.Cleanup(closeTab)
		tabs[i] = tab
		st, err := acme.api.StartConsole(pctx, d.ID)
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate(st.ConsoleURL)))
	}
	for i, gm := range machines {
		waitJS(t, tabs[i], fmt.Sprintf(`document.querySelector("video") && document.querySelector("video").videoWidth === %d && document.querySelector("video").videoHeight === %d`, gm.w, gm.h),
			45*time.Second, fmt.Sprintf("machine %d's screen (%dx%d)", i, gm.w, gm.h))
		waitJS(t, tabs[i], `(() => { const v = document.querySelector("video"); const c = document.createElement("canvas");
			c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext("2d"); g.drawImage(v, 0, 0);
			const p = g.getImageData(150, 170, 1, 1).data; return p[1] > 180 && p[0] < 80 && p[2] < 80; })()`,
			20*time.Second, fmt.Sprintf("machine %d's probe window", i))
	}
	shot(t, tabs[1], "amt-gateway-second-machine")

	// The dashboard shows the gateway (no console of its own) and what it serves.
	dash, closeDash := chromedp.NewContext(browser)
	t.Cleanup(closeDash)
	dashboard(t, dash, s.url+"/", "signin")
	signIn(t, dash, "acme", acme.email, webPassword)
	waitJS(t, dash, `!!document.querySelector('`+rowSel(adopted.ID)+` [data-field="via"]')`, 20*time.Second, "the adopted machine's row")
	assert.Contains(t, mustJS[string](t, dash, `document.querySelector('`+rowSel(adopted.ID)+` [data-field="via"]').textContent`), "mps-gw")
	assert.True(t, mustJS[bool](t, dash, `!!document.querySelector('`+rowSel(adopted.ID)+` button[data-action="open"]')`), "a served machine opens a console")
	assert.False(t, mustJS[bool](t, dash, `!!document.querySelector('`+rowSel(gw.ID)+` button[data-action="open"]')`), "the gateway has no console")
	assert.Contains(t, mustJS[string](t, dash, `document.querySelector('`+rowSel(gw.ID)+` [data-field="amt-tags"]').textContent`), "rack9")
	shot(t, dash, "amt-gateway-dashboard")

	clickRemotePixel(t, tabs[1], pctx, probes[1], 300, 250)
	typeHiEscape(t, tabs[0], pctx, probes[0])
	for _, line := range probes[0].All() {
		assert.False(t, strings.HasPrefix(line, "press"), "the click in the second machine's console reached the first machine: %q", line)
	}
	for _, line := range probes[1].All() {
		assert.False(t, strings.HasPrefix(line, "key "), "keys typed in the first machine's console reached the second: %q", line)
	}

	// A machine whose CIRA link goes away is offline as soon as the gateway sees it, not after
	// a heartbeat timeout; the other stays online.
	require.NoError(t, sims[1].Close())
	require.Eventually(t, func() bool {
		got, err := acme.api.Device(pctx, adopted.ID)
		return err == nil && !got.Online
	}, 10*time.Second, 100*time.Millisecond, "the machine without its CIRA link offline")
	got, err := acme.api.Device(pctx, byGUID.ID)
	require.NoError(t, err)
	assert.True(t, got.Online, "the other machine stays online")

	// Revoking the gateway revokes its machines and cuts their consoles.
	require.NoError(t, acme.api.RevokeDevice(pctx, gw.ID))
	for i := range tabs {
		waitJS(t, tabs[i], `window.kvm.state === "closed" || window.kvm.state === "failed"`, 20*time.Second, fmt.Sprintf("machine %d's console ends", i))
	}
	for _, d := range devs {
		got, err := acme.api.Device(pctx, d.ID)
		require.NoError(t, err)
		assert.NotNil(t, got.RevokedAt, "%s revoked with its gateway", d.Name)
		_, err = acme.api.StartConsole(pctx, d.ID)
		assert.Error(t, err, "no new console on a machine of a revoked gateway")
	}
}
