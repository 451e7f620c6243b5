package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ctldevice "github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/device/amt"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/firmware"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestAMTFaultsInChromium: every fault the simulator injects, with a console open in
// Chromium. Each ends in a clear message — the device's reported signal says what went wrong,
// as the dashboard shows it, while the console keeps its session (ACTIVE) and keeps showing
// frames (the no-signal card names the reason) — and never in a hang: a fault that passes
// brings the picture back by itself. The agent waits 4 s before reconnecting here, so the
// no-signal state lasts long enough to be seen through heartbeats.
func TestAMTFaultsInChromium(t *testing.T) {
	browser := testenv.Chromium(t)
	for _, tc := range []struct {
		name   string
		faults firmware.Faults
		tune   func(*amt.Source)
		// act injects the fault once the picture showed (nil: the fault is there from the start).
		act func(t *testing.T, am *amtMachine)
		// want is in the signal's error; recovers: the picture comes back by itself.
		want     string
		recovers bool
	}{
		{name: "busy", faults: firmware.Faults{Busy: true}, want: "busy"},
		{name: "drop after ServerInit", faults: firmware.Faults{DropAfterServerInit: true}, want: "ended the KVM session"},
		// This simulator checks its own 16 bpp format at ClientInit, so the 8 bpp retry is
		// refused too (what real AMT checks is unconfirmed): both refusals say why.
		{name: "oversize refused", faults: firmware.Faults{MaxFramebufferBytes: 1024 * 768}, want: "refused the RFB session at"},
		{name: "inactivity timeout", faults: firmware.Faults{InactivityTimeout: 4 * time.Second}, want: "ended the KVM session", recovers: true},
		{name: "device closes the session", faults: firmware.Faults{CloseAfter: 6 * time.Second}, want: "ended the KVM session", recovers: true},
		{name: "MPS restart", act: func(t *testing.T, am *amtMachine) { require.NoError(t, am.mps.Web().Restart()) }, want: "MPS restart", recovers: true},
		{name: "CIRA link drop", tune: func(s *amt.Source) { s.Silence = 3 * time.Second },
			act: func(t *testing.T, am *amtMachine) { am.machine.Drop() }, want: "management link dropped", recovers: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tune []func(*amt.Source)
			if tc.tune != nil {
				tune = append(tune, tc.tune)
			}
			am := startAMTMachineWith(t, 1024, 768, "", firmware.ManagementConfig{}, tc.faults, tune...)
			s, tenants := newControlRelay(t, "acme")
			acme := tenants["acme"]
			dev, id, hc := enrollDevice(t, s, acme, "rack7-amt", nil)
			runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30, source: am.source, consent: am.consent, retryMin: 4 * time.Second})
			s.waitAgent(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			tab, closeTab := chromedp.NewContext(browser)
			defer closeTab()
			st, err := acme.api.StartConsole(ctx, dev.ID)
			require.NoError(t, err)
			require.NoError(t, chromedp.Do(tab, chromedp.Navigate(st.ConsoleURL)))
			waitJS(t, tab, `window.kvm && window.kvm.state === "connected"`, 30*time.Second, "the console connected")
			desktop := `document.querySelector("video").videoWidth === 1024 && document.querySelector("video").videoHeight === 768`
			if tc.act != nil {
				waitJS(t, tab, desktop, 30*time.Second, "the desktop before the fault")
				tc.act(t, am)
			}

			// What the dashboard shows: no signal, and why.
			var signal ctldevice.Signal
			require.Eventually(t, func() bool {
				d, err := acme.api.Device(ctx, dev.ID)
				require.NoError(t, err)
				caps, err := ctldevice.ParseCapabilities(d.Capabilities.String())
				if err != nil || caps.Signal == nil {
					return false
				}
				signal = *caps.Signal
				return signal.State == ctldevice.SignalNone && signal.Error != ""
			}, 30*time.Second, 100*time.Millisecond, "the device reports no signal with a reason")
			t.Logf("signal: %q", signal.Error)
			assert.Contains(t, strings.ToLower(signal.Error), strings.ToLower(tc.want), "the reason: %q", signal.Error)

			// The console keeps its session and keeps getting frames (the card, or the picture).
			frames := mustJS[int](t, tab, `window.kvm.framesDecoded`)
			waitJS(t, tab, `window.kvm.framesDecoded > `+strconv.Itoa(frames+5), 20*time.Second, "frames keep coming")
			assert.Equal(t, "connected", mustJS[string](t, tab, `window.kvm.state`))
			got, err := acme.api.Session(ctx, st.Session.ID)
			require.NoError(t, err)
			assert.Equal(t, string(store.SessionActive), got.Current, "the session stays active")
			if tc.recovers {
				waitJS(t, tab, desktop, 45*time.Second, "the desktop back after the fault")
			}
		})
	}
}
