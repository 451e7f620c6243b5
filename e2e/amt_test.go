package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/wsman"
	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/amt"
	"github.com/kvmrelay/kvmrelay/internal/amtsim"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/firmware"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/internal/vncserver"
)

const (
	amtGUID        = "5d0c2b1a-3e4f-4a6b-8c7d-9e0f1a2b3c4d"
	amtWebPassword = "mps-web-Secret"
)

// amtMachine is a simulated AMT machine showing an X desktop (x11vnc on Xvfb) behind a fake
// MPS it reached over CIRA, and the kvmagent source for it.
type amtMachine struct {
	mps     *amtsim.MPS
	machine *amtsim.Machine
	display *vncserver.Display
	source  device.Source
	consent *device.Consent
}

func startAMTMachine(t *testing.T, mgmt firmware.ManagementConfig, tune ...func(*amt.Source)) *amtMachine {
	t.Helper()
	return startAMTMachineSized(t, 1024, 768, "", mgmt, tune...)
}

// startAMTMachineSized is startAMTMachine with the machine's screen size and the source spec's
// query (bpp=8).
func startAMTMachineSized(t *testing.T, w, h int, query string, mgmt firmware.ManagementConfig, tune ...func(*amt.Source)) *amtMachine {
	t.Helper()
	return startAMTMachineWith(t, w, h, query, mgmt, firmware.Faults{}, tune...)
}

// startAMTMachineWith is startAMTMachineSized with faults the simulated firmware injects.
func startAMTMachineWith(t *testing.T, w, h int, query string, mgmt firmware.ManagementConfig, faults firmware.Faults, tune ...func(*amt.Source)) *amtMachine {
	t.Helper()
	display := vncserver.Xvfb(t, w, h)
	vncAddr := vncserver.X11VNC(t, display, "")
	m, err := amtsim.StartMPS(amtsim.MPSConfig{CIRAListen: "127.0.0.1:0", Listen: "127.0.0.1:0", TLS: true,
		WebUser: "admin", WebPassword: amtWebPassword, Logger: testLogger().With("component", "amtsim"),
		Devices: []fakemps.Record{{Info: fakemps.DeviceInfo{GUID: amtGUID, Hostname: "rack7-amt", MPSUsername: "cira"},
			MPSPassword: "cira-Secret", AMTPassword: "amt-Secret1"}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	tlsCfg, err := m.ClientTLS()
	require.NoError(t, err)
	mgmt.Width, mgmt.Height = w, h
	machine, err := amtsim.StartMachine(amtsim.MachineConfig{GUID: amtGUID, MPSUser: "cira", MPSPassword: "cira-Secret",
		AMTPassword: "amt-Secret1", VNC: vncAddr, Management: mgmt, Faults: faults, Logger: testLogger().With("component", "amtsim")}, m.CIRAAddr(), tlsCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = machine.Close() })
	require.Eventually(t, func() bool { return m.Connected(amtGUID) }, 10*time.Second, 20*time.Millisecond, "the machine's CIRA link to MPS")

	// As kvmagent builds it: --source amt+mps://admin@HOST/GUID, the password from
	// KVMAGENT_MPS_PASSWORD, --mps-ca the simulator's certificate.
	consent := device.NewConsent()
	u, err := url.Parse(fmt.Sprintf("amt+mps://admin@%s/%s%s", m.URL().Host, amtGUID, query))
	require.NoError(t, err)
	roots := tlsCfg.RootCAs
	src, err := amt.NewSource(u, device.Options{Logger: testLogger().With("component", "source"), FPS: 30, Consent: consent, TLSRoots: roots,
		Lookup: func(name string) (string, bool) { return amtWebPassword, name == amt.MPSPasswordEnv }})
	require.NoError(t, err)
	for _, f := range tune {
		f(src.(*amt.Source))
	}
	return &amtMachine{mps: m, machine: machine, display: display, source: src, consent: consent}
}

// TestAMTConsoleInChromium is issue 10 end to end: Chromium → relay → kvmagent's amt+mps
// source → the fake MPS (REST, relay WebSocket with TEXT frames) → CIRA → the simulated AMT
// firmware (redirection with digest auth, RFB as AMT speaks it) → x11vnc on Xvfb. AMT asks
// for user consent: the session goes to CONSENT_REQUIRED, the console asks for the code, a
// wrong code is refused with a reason and the right one connects; then the X screen shows,
// a click lands at the right pixel and typed keys reach an X application. Each consent
// step is in the audit chain, never the code.
func TestAMTConsoleInChromium(t *testing.T) {
	am := startAMTMachine(t, firmware.ManagementConfig{Consent: firmware.ConsentKVM})
	pctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	probe := vncserver.StartProbe(pctx, t, am.display, 100, 120, false)

	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack7-amt", nil)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30, source: am.source, consent: am.consent})
	s.waitAgent(t)

	ctx := testenv.Chromium(t)
	st, err := acme.api.StartConsole(pctx, dev.ID)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(st.ConsoleURL)))
	waitJS(t, ctx, `window.kvm && window.kvm.consent === "required"`, 30*time.Second, "the consent prompt")
	waitJS(t, ctx, `document.getElementById("consent-dialog").open`, 5*time.Second, "the consent dialog")
	require.Eventually(t, func() bool {
		got, err := acme.api.Session(pctx, st.Session.ID)
		return err == nil && got.Current == string(store.SessionConsentRequired)
	}, 10*time.Second, 50*time.Millisecond, "the session waits in CONSENT_REQUIRED")
	left := mustJS[string](t, ctx, `document.getElementById("consent-left").textContent`)
	assert.Contains(t, left, "The code is valid for", "the window's countdown")
	shot(t, ctx, "amt-consent")

	code := am.machine.Management().Code()
	require.Len(t, code, 6, "the machine shows a code")
	n, _ := strconv.Atoi(code)
	wrong := fmt.Sprintf("%06d", (n+1)%1_000_000)
	typeConsent := func(c string) {
		t.Helper()
		mustJS[bool](t, ctx, `(() => { const i = document.getElementById("consent-code"); i.value = `+strconv.Quote(c[:3]+" "+c[3:])+`;
			i.dispatchEvent(new Event("input")); return true; })()`)
		click(t, ctx, "#consent-submit")
	}
	typeConsent(wrong)
	waitJS(t, ctx, `document.getElementById("consent-error").textContent.includes("refused the code")`, 20*time.Second, "the refusal of a wrong code")
	assert.Contains(t, mustJS[string](t, ctx, `document.getElementById("consent-error").textContent`), "wrong code")
	shot(t, ctx, "amt-consent-wrong")
	typeConsent(code)
	waitJS(t, ctx, `!document.getElementById("consent-dialog").open`, 20*time.Second, "the dialog closed on the right code")

	// The X desktop, through AMT's RFB, at its size.
	waitJS(t, ctx, `document.querySelector("video").videoWidth === 1024 && document.querySelector("video").videoHeight === 768`, 30*time.Second, "the desktop's size")
	waitJS(t, ctx, `(() => { const v = document.querySelector("video"); const c = document.createElement("canvas");
		c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext("2d"); g.drawImage(v, 0, 0);
		const p = g.getImageData(150, 170, 1, 1).data; return p[1] > 180 && p[0] < 80 && p[2] < 80; })()`,
		20*time.Second, "the probe window's green square in the picture")
	got, err := acme.api.Session(pctx, st.Session.ID)
	require.NoError(t, err)
	assert.Equal(t, string(store.SessionActive), got.Current, "consent given: ACTIVE again")

	// A click on the remote pixel (160, 175) — inside the green square — lands there, and
	// typed keys reach the X application.
	clickRemotePixel(t, ctx, pctx, probe, 160, 175)
	typeHiEscape(t, ctx, pctx, probe)
	shot(t, ctx, "amt-console")

	// The power menu offers AMT's actions.
	waitJS(t, ctx, `!document.getElementById("btn-power").hidden && window.kvm.power === "on"`, 20*time.Second, "the power menu")

	page, err := acme.api.Audit(pctx, 0, 200)
	require.NoError(t, err)
	var steps []string
	for _, e := range page.Entries {
		assert.NotContains(t, string(e.Details), code, "the code is never in the audit chain")
		if e.Action == string(store.AuditConsoleConsent) {
			var d map[string]string
			require.NoError(t, json.Unmarshal(e.Details, &d))
			steps = append(steps, d["step"])
		}
	}
	assert.Equal(t, []string{"asked", "code entered", "code entered", "accepted"}, steps)
}

// TestAMTPowerAndConsentAPI: a machine that is off shows why instead of a picture; Power on
// from the console's power menu brings its screen (the action audited). Consent answered
// through the API (what kvmctl console consent calls): a wrong code is 422 with the reason, the
// right one connects. A consent window that closes ends the session in ERROR with the reason,
// shown in the console.
func TestAMTPowerAndConsentAPI(t *testing.T) {
	// A short consent window and linger, for the expiry at the end.
	am := startAMTMachine(t, firmware.ManagementConfig{Consent: firmware.ConsentKVM, Power: wsman.PowerOffSoft}, func(s *amt.Source) {
		s.ConsentWindow, s.LingerAfter = 15*time.Second, 100*time.Millisecond
	})
	pctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, tenants := newControlRelay(t, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack8-amt", nil)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30, source: am.source, consent: am.consent})
	s.waitAgent(t)
	ctx := testenv.Chromium(t)

	st, err := acme.api.StartConsole(pctx, dev.ID)
	require.NoError(t, err)
	openConsole(t, ctx, st.ConsoleURL)
	waitJS(t, ctx, `window.kvm.power === "off" && !document.getElementById("btn-power").hidden`, 30*time.Second, "the power menu says off")
	assert.Equal(t, "Machine power: Off", mustJS[string](t, ctx, `document.getElementById("power-state").textContent`))
	shot(t, ctx, "amt-powered-off")
	click(t, ctx, "#btn-power")
	click(t, ctx, `#power-items [data-power="on"]`)
	require.Eventually(t, func() bool { return am.machine.Management().PowerState() == wsman.PowerOn }, 20*time.Second, 50*time.Millisecond, "Power on reached the machine")
	waitJS(t, ctx, `window.kvm.power === "on"`, 20*time.Second, "the power menu says on")

	// Powered on, the agent connects at once and AMT asks for consent: answered through the API.
	require.Eventually(t, func() bool {
		got, err := acme.api.Session(pctx, st.Session.ID)
		return err == nil && got.Current == string(store.SessionConsentRequired)
	}, 30*time.Second, 50*time.Millisecond, "the session waits for consent")
	waitJS(t, ctx, `window.kvm.consent === "required"`, 10*time.Second, "the console's prompt")
	code := am.machine.Management().Code()
	n, _ := strconv.Atoi(code)
	_, err = acme.api.SubmitConsent(pctx, dev.ID, st.Session.ID, fmt.Sprintf("%06d", (n+1)%1_000_000))
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 422, apiErr.Status)
	assert.Contains(t, apiErr.Message, "wrong code")
	ans, err := acme.api.SubmitConsent(pctx, dev.ID, st.Session.ID, code[:3]+" "+code[3:])
	require.NoError(t, err)
	assert.Equal(t, "accepted", ans.State)
	waitJS(t, ctx, `!document.getElementById("consent-dialog").open && document.querySelector("video").videoWidth === 1024`, 30*time.Second, "the desktop")
	shot(t, ctx, "amt-powered-on")

	// Reset asks first: Cancel sends nothing, confirming resets.
	click(t, ctx, "#btn-power")
	click(t, ctx, `#power-items [data-power="reset"]`)
	waitJS(t, ctx, `document.getElementById("power-dialog").open`, 5*time.Second, "the reset confirmation")
	assert.Contains(t, mustJS[string](t, ctx, `document.getElementById("power-warning").textContent`), "unsaved work is lost")
	click(t, ctx, `#power-dialog button[value="cancel"]`)
	waitJS(t, ctx, `!document.getElementById("power-dialog").open`, 5*time.Second, "cancelled")
	click(t, ctx, "#btn-power")
	click(t, ctx, `#power-items [data-power="reset"]`)
	waitJS(t, ctx, `document.getElementById("power-dialog").open`, 5*time.Second, "the reset confirmation again")
	click(t, ctx, "#power-confirm")
	require.Eventually(t, func() bool {
		acts := am.machine.Management().PowerActions()
		return len(acts) > 0 && acts[len(acts)-1] == wsman.PowerMasterBusReset
	}, 20*time.Second, 50*time.Millisecond, "the reset reached the machine")
	assert.Equal(t, []int{wsman.PowerOn, wsman.PowerMasterBusReset}, am.machine.Management().PowerActions(), "Cancel sent nothing")

	// The reset's outcome is audited when the agent's report of it reaches the relay, a moment
	// after the machine saw it.
	var power []map[string]string
	require.Eventually(t, func() bool {
		page, err := acme.api.Audit(pctx, 0, 200)
		require.NoError(t, err)
		power = nil
		for _, e := range page.Entries {
			if e.Action == string(store.AuditPowerAction) {
				var d map[string]string
				require.NoError(t, json.Unmarshal(e.Details, &d))
				d["actor"] = e.Actor.String()
				power = append(power, d)
			}
		}
		return len(power) >= 4
	}, 20*time.Second, 100*time.Millisecond, "the reset's outcome audited")
	require.Len(t, power, 4, "the power actions asked (on, reset), and their outcomes")
	assert.Equal(t, "on", power[0]["action"])
	assert.Equal(t, "asked", power[0]["outcome"])
	assert.True(t, strings.HasPrefix(power[0]["actor"], "user:"), "asked by the person: %q", power[0]["actor"])
	assert.Equal(t, "done", power[1]["outcome"])
	assert.Equal(t, power[0]["id"], power[1]["id"], "the outcome names the action")

	// A second console after this one closed: its consent window runs out.
	_, err = chromedp.RunResponse(ctx, chromedp.Navigate("about:blank"))
	require.NoError(t, err)
	require.NoError(t, acme.api.EndSession(pctx, st.Session.ID))
	require.Eventually(t, func() bool { return !am.mps.Web().KVMConnected(amtGUID) }, 20*time.Second, 50*time.Millisecond, "the KVM session closed after the linger")
	st2, err := acme.api.StartConsole(pctx, dev.ID)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(st2.ConsoleURL)))
	waitJS(t, ctx, `window.kvm && window.kvm.consent === "required"`, 30*time.Second, "the consent prompt")
	require.Eventually(t, func() bool {
		got, err := acme.api.Session(pctx, st2.Session.ID)
		return err == nil && got.Current == string(store.SessionError) && strings.Contains(got.Reason, "consent expired")
	}, 30*time.Second, 100*time.Millisecond, "the session ends in ERROR when the window closes")
	waitJS(t, ctx, `window.kvm.state === "closed" || window.kvm.state === "failed"`, 20*time.Second, "the console ends")
	msg := mustJS[string](t, ctx, `document.getElementById("overlay-detail").textContent`)
	assert.Contains(t, msg, "consent", "the console says why: %q", msg)
	waitJS(t, ctx, `!document.getElementById("consent-dialog").open`, 5*time.Second, "no code asked of an ended session")
	shot(t, ctx, "amt-consent-expired")
}

// TestAMTDisplays: a machine with two screens offers the choice in the console; picking the
// second reconnects to it (AMT's default screen changes through MPS) and the picture follows.
func TestAMTDisplays(t *testing.T) {
	am := startAMTMachine(t, firmware.ManagementConfig{Screens: 2})
	s := newStack(t, stackOptions{source: am.source, consent: am.consent})
	ctx := testenv.Chromium(t)
	openConsole(t, ctx, s.link(t))
	waitJS(t, ctx, `document.querySelector("video").videoWidth === 1024`, 30*time.Second, "the desktop")
	waitJS(t, ctx, `!document.getElementById("display-select").hidden && document.getElementById("display-select").options.length === 2`, 20*time.Second, "the screen picker")
	assert.Equal(t, "0", mustJS[string](t, ctx, `document.getElementById("display-select").value`), "screen 1 shown")
	assert.Equal(t, 0, am.machine.Management().DefaultDisplay())
	mustJS[bool](t, ctx, `(() => { const s = document.getElementById("display-select"); s.value = "1"; s.dispatchEvent(new Event("change")); return true; })()`)
	require.Eventually(t, func() bool { return am.machine.Management().DefaultDisplay() == 1 }, 20*time.Second, 50*time.Millisecond, "AMT shows the second screen")
	waitJS(t, ctx, `document.getElementById("display-select").value === "1"`, 20*time.Second, "the picker says screen 2")
	frames := mustJS[int](t, ctx, `window.kvm.framesDecoded`)
	waitJS(t, ctx, fmt.Sprintf(`window.kvm.framesDecoded > %d && document.querySelector("video").videoWidth === 1024`, frames), 20*time.Second, "the picture after the switch")
	shot(t, ctx, "amt-displays")
}
