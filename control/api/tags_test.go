package api

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// TestGatewayTagsAPI: POST /devices gives a gateway amt_tags (checked, deduplicated), PATCH
// replaces them; device views carry amt_tags for gateways only, [] for none; tags for any
// other device are a 400 with a sentence; the machines a gateway adopts by tag show their
// gateway and mps-tag label.
func TestGatewayTagsAPI(t *testing.T) {
	e := newEnv(t)
	org, tok := e.owner("acme")
	var gw, bare, plain deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok,
		map[string]any{"name": "mps-gw", "kind": "gateway", "amt_tags": []string{"rack7", "lab", "rack7"}}, &gw))
	require.NotNil(t, gw.AMTTags)
	assert.Equal(t, []string{"rack7", "lab"}, *gw.AMTTags)
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "bare-gw", Kind: store.DeviceGateway}, &bare))
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack-1"}, &plain))

	// The wire shape: amt_tags on gateways, [] for none, absent elsewhere.
	var raw struct {
		Devices []map[string]any `json:"devices"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices", tok, nil, &raw))
	byName := map[string]map[string]any{}
	for _, d := range raw.Devices {
		byName[d["name"].(string)] = d
	}
	assert.Equal(t, []any{"rack7", "lab"}, byName["mps-gw"]["amt_tags"])
	assert.Equal(t, []any{}, byName["bare-gw"]["amt_tags"])
	assert.NotContains(t, byName["rack-1"], "amt_tags")

	var got deviceView
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/devices/"+gw.ID, tok, map[string]any{"amt_tags": []string{"lab", "row-b"}}, &got))
	assert.Equal(t, []string{"lab", "row-b"}, *got.AMTTags)
	require.Equal(t, http.StatusOK, e.do("PATCH", "/api/v1/devices/"+gw.ID, tok, map[string]any{"name": "mps-gw-fra"}, &got))
	assert.Equal(t, []string{"lab", "row-b"}, *got.AMTTags, "a PATCH without amt_tags leaves them")
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+gw.ID, tok, nil, &got))
	assert.Equal(t, []string{"lab", "row-b"}, *got.AMTTags)
	updates := e.entries(org.ID, store.AuditDeviceUpdate)
	require.Len(t, updates, 2)
	assert.Equal(t, `["lab","row-b"]`, updates[0].Details["amt_tags_after"])

	refusals := []struct {
		name, method, path string
		req                any
		msg                string
	}{
		{"create an agent with tags", "POST", "/api/v1/devices", map[string]any{"name": "x", "amt_tags": []string{"rack7"}},
			`Device "x" is not a gateway, and only a gateway has AMT tags`},
		{"create a served machine with tags", "POST", "/api/v1/devices",
			map[string]any{"name": "x", "amt": map[string]string{"gateway": "mps-gw-fra", "guid": testGUID}, "amt_tags": []string{"rack7"}},
			`Device "x" is not a gateway`},
		{"tag an agent", "PATCH", "/api/v1/devices/" + plain.ID, map[string]any{"amt_tags": []string{"rack7"}}, `Device "rack-1" is not a gateway`},
		{"empty tags on an agent", "PATCH", "/api/v1/devices/" + plain.ID, map[string]any{"amt_tags": []string{}}, `Device "rack-1" is not a gateway`},
		{"a control character", "PATCH", "/api/v1/devices/" + gw.ID, map[string]any{"amt_tags": []string{"rack\x1b7"}},
			`The request is invalid: AMT tag "rack\x1b7" has an escape (ESC) (U+001B) at character 5`},
		{"an empty tag", "POST", "/api/v1/devices", map[string]any{"name": "gw2", "kind": "gateway", "amt_tags": []string{""}},
			`AMT tag "" must be 1 to 64 bytes`},
		{"not a list", "PATCH", "/api/v1/devices/" + gw.ID, map[string]any{"amt_tags": "rack7"}, ""},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			var apiErr Error
			require.Equal(t, http.StatusBadRequest, e.do(tc.method, tc.path, tok, tc.req, &apiErr))
			assert.Equal(t, CodeBadRequest, apiErr.Code)
			assert.Contains(t, apiErr.Message, tc.msg)
		})
	}
	var agent deviceView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+plain.ID, tok, nil, &agent))
	assert.Nil(t, agent.AMTTags)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+gw.ID, tok, nil, &got))
	assert.Equal(t, []string{"lab", "row-b"}, *got.AMTTags, "refusals changed nothing")

	// What the gateway adopts is listed like any served device.
	svc, err := device.NewService(device.ServiceConfig{Store: e.st, Sessions: e.mgr, Agents: e.cut, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	n, err := svc.Adopt(context.Background(), org.ID, gw.ID, []device.Discovered{{Target: testGUID, Name: "node-7", Tags: []string{"row-b"}}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices", tok, nil, &raw))
	var adopted map[string]any
	for _, d := range raw.Devices {
		if d["name"] == "node-7" {
			adopted = d
		}
	}
	require.NotNil(t, adopted)
	assert.Equal(t, "agent", adopted["kind"])
	assert.Equal(t, gw.ID, adopted["gateway"])
	assert.Equal(t, "mps-gw-fra", adopted["gateway_name"])
	assert.Equal(t, testGUID, adopted["amt_guid"])
	assert.Equal(t, map[string]any{"mps-tag": "row-b"}, adopted["labels"])
	assert.NotContains(t, adopted, "amt_tags")
}
