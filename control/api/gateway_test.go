package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const testGUID = "12345678-9abc-def0-1234-56789abcdef0"

// TestGatewayDevicesAPI: gateways and the AMT machines they serve through POST /devices;
// device views carry kind, and for a served device its gateway and GUID; a served device
// takes no enrollment token, a gateway opens no console, revoking a gateway revokes what it
// serves and cuts its agent.
func TestGatewayDevicesAPI(t *testing.T) {
	e := newEnv(t)
	org, tok := e.owner("acme")
	var gw, amt, plain deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "mps-gw", Kind: store.DeviceGateway}, &gw))
	assert.Equal(t, store.DeviceGateway, gw.Kind)
	assert.Empty(t, gw.Gateway)
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok,
		deviceRequest{Name: "amt-1", AMT: &amtRequest{Gateway: "MPS-GW", GUID: strings.ToUpper(testGUID)}}, &amt))
	assert.Equal(t, deviceView{ID: amt.ID, Name: "amt-1", Labels: map[string]string{}, CreatedAt: amt.CreatedAt, Kind: store.DeviceAgent,
		Gateway: gw.ID, GatewayName: "mps-gw", AMTGUID: testGUID}, amt)
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "rack-1"}, &plain))
	assert.Equal(t, store.DeviceAgent, plain.Kind)

	// The wire shape: kind always, the gateway fields only on served devices.
	var raw struct {
		Devices []map[string]any `json:"devices"`
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices", tok, nil, &raw))
	byName := map[string]map[string]any{}
	for _, d := range raw.Devices {
		byName[d["name"].(string)] = d
	}
	require.Len(t, byName, 3)
	assert.Equal(t, "gateway", byName["mps-gw"]["kind"])
	assert.NotContains(t, byName["mps-gw"], "amt_guid")
	assert.Equal(t, "agent", byName["amt-1"]["kind"])
	assert.Equal(t, gw.ID, byName["amt-1"]["gateway"])
	assert.Equal(t, "mps-gw", byName["amt-1"]["gateway_name"])
	assert.Equal(t, testGUID, byName["amt-1"]["amt_guid"])
	assert.NotContains(t, byName["rack-1"], "gateway")
	var got deviceView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+amt.ID, tok, nil, &got))
	assert.Equal(t, amt, got)

	refusals := []struct {
		name   string
		req    any
		status int
		msg    string
	}{
		{"both kinds", deviceRequest{Name: "x", Kind: store.DeviceGateway, AMT: &amtRequest{Gateway: "mps-gw", GUID: testGUID}}, http.StatusBadRequest,
			"A gateway cannot be served by another gateway"},
		{"bad GUID", deviceRequest{Name: "x", AMT: &amtRequest{Gateway: "mps-gw", GUID: "not-a-guid"}}, http.StatusBadRequest, `"not-a-guid" is not an AMT GUID`},
		{"unknown gateway", deviceRequest{Name: "x", AMT: &amtRequest{Gateway: "nope", GUID: testGUID}}, http.StatusBadRequest, `No gateway "nope" in your organization`},
		{"not a gateway", deviceRequest{Name: "x", AMT: &amtRequest{Gateway: plain.ID, GUID: testGUID}}, http.StatusBadRequest, `Device "rack-1" is not a gateway`},
		{"unknown kind", map[string]any{"name": "x", "kind": "toaster"}, http.StatusBadRequest, `Device kind "toaster" is unknown`},
		{"same machine", deviceRequest{Name: "x", AMT: &amtRequest{Gateway: gw.ID, GUID: testGUID}}, http.StatusConflict,
			`Gateway "mps-gw" already serves the AMT machine ` + testGUID + ` as device "amt-1"`},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			var apiErr Error
			require.Equal(t, tc.status, e.do("POST", "/api/v1/devices", tok, tc.req, &apiErr))
			assert.Contains(t, apiErr.Message, tc.msg)
		})
	}

	var apiErr Error
	require.Equal(t, http.StatusConflict, e.do("POST", "/api/v1/devices/"+amt.ID+"/enrollment-tokens", tok, nil, &apiErr))
	assert.Contains(t, apiErr.Message, `is served by gateway "mps-gw" and has no agent of its own; enroll the gateway instead`)
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+gw.ID+"/enrollment-tokens", tok, nil, nil))

	require.Equal(t, http.StatusConflict, e.do("POST", "/api/v1/devices/"+gw.ID+"/sessions", tok, nil, &apiErr))
	assert.Equal(t, "mps-gw is a gateway: it has no screen of its own; open one of the machines it serves.", apiErr.Message)
	var started startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+amt.ID+"/sessions", tok, nil, &started))
	assert.Equal(t, store.SessionRequested, started.Session.Current)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/devices/"+gw.ID, tok, nil, nil))
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/devices/"+amt.ID, tok, nil, &got))
	assert.NotNil(t, got.RevokedAt, "revoked with its gateway")
	assert.Contains(t, e.cut.cut, gw.ID, "the gateway's agent is cut")
	var s sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+started.Session.ID, tok, nil, &s))
	assert.Equal(t, store.SessionStopped, s.Current, "the served device's console is stopped")
	revokes := e.entries(org.ID, store.AuditDeviceRevoke)
	require.Len(t, revokes, 1)
	assert.Equal(t, "1", revokes[0].Details["served_revoked"])
}

// TestDeviceSchemaDocumented: every field of a device answer is in the OpenAPI Device schema.
func TestDeviceSchemaDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(openAPI, &doc))
	props := doc.Components.Schemas["Device"].Properties
	rt := reflect.TypeOf(deviceView{})
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		assert.Contains(t, props, name)
	}
	assert.Len(t, props, rt.NumField(), "and nothing else")
}
