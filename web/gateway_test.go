package web

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDashboardGatewayRows: in the device list a gateway wears a badge, has no Open console
// button and says the MPS tags it adopts machines by; an AMT machine says which gateway it is
// reached through; a plain device is as before. Names and tags are set as text, so markup in
// them stays characters.
func TestDashboardGatewayRows(t *testing.T) {
	url := serveDashboard(t, nil)
	ctx, _ := openBrowser(t)
	navigate(t, ctx, url+"/console/")
	type row struct {
		Kind string `json:"kind"`
		Tags string `json:"tags"`
		Via  string `json:"via"`
		Open bool   `json:"open"`
		HTML bool   `json:"html"`
	}
	got := eval[map[string]row](t, ctx, `import("/console/js/dashboard/devicerow.js").then((m) => {
		const view = { summary: null, canOpen: true, openWhy: "", mayStop: () => true, busy: false, now: Date.now() };
		const devices = [
			{ id: "g1", name: "mps-gw", kind: "gateway", labels: {}, online: true, amt_tags: [] },
			{ id: "g2", name: "tagged-gw", kind: "gateway", labels: {}, amt_tags: ["rack7", "<b>lab</b>"] },
			{ id: "x1", name: "agent-with-tags", kind: "agent", labels: {}, amt_tags: ["rack7"] },
			{ id: "a1", name: "amt-1", kind: "agent", labels: {}, gateway: "g1", gateway_name: "<b>mps-gw</b>", amt_guid: "12345678-9abc-def0-1234-56789abcdef0" },
			{ id: "p1", name: "rack-1", kind: "agent", labels: {} },
			{ id: "o1", name: "old", labels: {} },
		];
		const out = {};
		for (const d of devices) {
			const tr = m.deviceRow(d, view);
			out[d.name] = {
				kind: tr.querySelector('[data-field="kind"]')?.textContent ?? "",
				tags: tr.querySelector('[data-field="amt-tags"]')?.textContent ?? "",
				via: tr.querySelector('[data-field="via"]')?.textContent ?? "",
				open: !!tr.querySelector('button[data-action="open"]'),
				html: !!tr.querySelector("b"),
			};
		}
		return out;
	})`)
	assert.Equal(t, map[string]row{
		"mps-gw":          {Kind: "Gateway", Open: false},
		"tagged-gw":       {Kind: "Gateway", Tags: "MPS tags: rack7, <b>lab</b>", Open: false},
		"agent-with-tags": {Open: true},
		"amt-1":           {Via: "via <b>mps-gw</b> · AMT", Open: true},
		"rack-1":          {Open: true},
		"old":             {Open: true},
	}, got)
}
