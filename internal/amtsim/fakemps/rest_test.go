package fakemps_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
)

func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login(t)
	assert.JSONEq(t, `{"alg":"HS256","typ":"JWT"}`, jwtPart(t, tok, 0))
	assert.JSONEq(t, `{"tenantId":"","iss":"9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc","deviceId":"*","exp":1767409445}`, jwtPart(t, tok, 1))

	s, b := e.do(t, http.MethodPost, "/api/v1/authorize", `{"username":"ADMIN","password":"G@ppm0ym"}`, "")
	assert.Equal(t, http.StatusOK, s, "user names compare case-insensitively")
	s, b = e.do(t, http.MethodPost, "/api/v1/authorize", `{"username":"admin","password":"g@ppm0ym"}`, "")
	assert.Equal(t, http.StatusUnauthorized, s)
	assert.JSONEq(t, `{"message":"Incorrect Username and/or Password!"}`, b)
	s, b = e.do(t, http.MethodPost, "/api/v1/authorize", `{"password":"x"}`, "")
	assert.Equal(t, http.StatusBadRequest, s)
	assert.JSONEq(t, `{"errors":[{"msg":"User name is required","param":"username","location":"body"}]}`, b)
	s, b = e.do(t, http.MethodPost, "/api/v1/authorize", `{"username":`, "")
	assert.Equal(t, http.StatusBadRequest, s)
	assert.JSONEq(t, `{"error":"Incorrect URI or Bad Request"}`, b)
}

func TestRedirectionToken(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.redirectionToken(t, guid)
	assert.JSONEq(t, `{"tenantId":"","iss":"9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc","deviceId":"`+guid+`","exp":1767323345}`, jwtPart(t, tok, 1))
	tok = e.redirectionToken(t, offline)
	assert.Contains(t, jwtPart(t, tok, 1), offline, "a known device gets a token even without a link")

	s, b := e.do(t, http.MethodGet, "/api/v1/authorize/redirection/"+unknown, "", "")
	assert.Equal(t, http.StatusNotFound, s)
	assert.Empty(t, b)
	s, _ = e.do(t, http.MethodGet, "/api/v1/authorize/redirection/not-a-guid", "", "")
	assert.Equal(t, http.StatusBadRequest, s)
}

func TestRESTShapes(t *testing.T) {
	notConnected := `{"error":"Device not found/connected. Please connect again using CIRA.","errorDescription":"guid : ` + offline + `"}`
	optIn := func(method string, rv int, name string) string {
		s := `{"Header":{"To":"http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous","RelatesTo":"0",` +
			`"Action":"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService/` + method + `Response",` +
			`"ResourceURI":"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"},"Body":{"ReturnValue":` + fmt.Sprint(rv)
		if name != "" {
			s += `,"ReturnValueStr":"` + name + `"`
		}
		return s + `}}`
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"devices", "GET", "/api/v1/devices", "", 200,
			// Sorted by GUID: offline (…000000000002) before guid (…0123456789ab).
			`[{"connectionStatus":false,"mpsInstance":null,"hostname":"amt-2","guid":"` + offline + `","mpsusername":"","tags":[],"tenantId":"","friendlyName":null,"dnsSuffix":null},` +
				`{"connectionStatus":true,"mpsInstance":"fakemps","hostname":"amt-1","guid":"` + guid + `","mpsusername":"cira","tags":["lab"],"tenantId":"","friendlyName":"Lab PC","dnsSuffix":null}]`},
		{"devices page", "GET", "/api/v1/devices?$top=1&$skip=1&$count=true", "", 200,
			`{"data":[{"connectionStatus":true,"mpsInstance":"fakemps","hostname":"amt-1","guid":"` + guid + `","mpsusername":"cira","tags":["lab"],"tenantId":"","friendlyName":"Lab PC","dnsSuffix":null}],"totalCount":2}`},
		{"devices connected", "GET", "/api/v1/devices?status=0", "", 200,
			`[{"connectionStatus":false,"mpsInstance":null,"hostname":"amt-2","guid":"` + offline + `","mpsusername":"","tags":[],"tenantId":"","friendlyName":null,"dnsSuffix":null}]`},
		{"devices bad top", "GET", "/api/v1/devices?$top=x", "", 400,
			`{"errors":[{"msg":"should be a positive integer","param":"$top","location":"query"}]}`},
		{"device", "GET", "/api/v1/devices/" + guid, "", 200,
			`{"connectionStatus":true,"mpsInstance":"fakemps","hostname":"amt-1","guid":"` + guid + `","mpsusername":"cira","tags":["lab"],"tenantId":"","friendlyName":"Lab PC","dnsSuffix":null}`},
		{"device unknown", "GET", "/api/v1/devices/" + unknown, "", 404, ``},
		{"redirect status", "GET", "/api/v1/devices/redirectstatus/" + guid, "", 200,
			`{"isKVMConnected":false,"isSOLConnected":false,"isIDERConnected":false}`},
		{"redirect status offline", "GET", "/api/v1/devices/redirectstatus/" + offline, "", 404, notConnected},
		{"features", "GET", "/api/v1/amt/features/" + guid, "", 200,
			`{"userConsent":"kvm","redirection":true,"KVM":true,"SOL":false,"IDER":false,"optInState":0,"kvmAvailable":true,` +
				`"ocr":false,"httpsBootSupported":false,"winREBootSupported":false,"localPBABootSupported":false,"remoteErase":false}`},
		{"features offline", "GET", "/api/v1/amt/features/" + offline, "", 404, notConnected},
		{"power state", "GET", "/api/v1/amt/power/state/" + guid, "", 200, `{"powerstate":2,"OSPowerSavingState":0}`},
		{"power action", "POST", "/api/v1/amt/power/action/" + guid, `{"action":10}`, 200,
			`{"Header":{"To":"http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous","RelatesTo":"0",` +
				`"Action":"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService/RequestPowerStateChangeResponse",` +
				`"ResourceURI":"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService"},"Body":{"ReturnValue":0,"ReturnValueStr":"SUCCESS"}}`},
		{"power action refused by AMT", "POST", "/api/v1/amt/power/action/" + guid, `{"action":4}`, 200,
			`{"Header":{"To":"http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous","RelatesTo":"0",` +
				`"Action":"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService/RequestPowerStateChangeResponse",` +
				`"ResourceURI":"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService"},"Body":{"ReturnValue":36,"ReturnValueStr":"INVALID_PARAMETER"}}`},
		{"power action invalid", "POST", "/api/v1/amt/power/action/" + offline, `{"action":9}`, 400,
			`{"errors":[{"msg":"Invalid value","param":"action","location":"body"}]}`},
		{"power action offline", "POST", "/api/v1/amt/power/action/" + offline, `{"action":2}`, 404, notConnected},
		{"consent request", "GET", "/api/v1/amt/userConsentCode/" + guid, "", 200, optIn("StartOptIn", 0, "SUCCESS")},
		{"consent wrong code", "POST", "/api/v1/amt/userConsentCode/" + guid, `{"consentCode":"0"}`, 400, optIn("SendOptInCode", 2, "NOT_READY")},
		{"consent not numeric", "POST", "/api/v1/amt/userConsentCode/" + guid, `{"consentCode":"abc"}`, 400,
			`{"errors":[{"msg":"Invalid value","param":"consentCode","location":"body"}]}`},
		{"consent cancel", "GET", "/api/v1/amt/userConsentCode/cancel/" + guid, "", 200, optIn("CancelOptIn", 0, "SUCCESS")},
		{"consent offline", "GET", "/api/v1/amt/userConsentCode/" + offline, "", 404, notConnected},
		{"displays", "GET", "/api/v1/amt/kvm/displays/" + guid, "", 200,
			`{"displays":[{"displayIndex":0,"isActive":true,"upperLeftX":0,"upperLeftY":0,"resolutionX":1024,"resolutionY":768,"isDefault":true,"role":"primary"}]}`},
		{"set display", "PUT", "/api/v1/amt/kvm/displays/" + guid, `{"displayIndex":0}`, 200, `{"IPS_KVMRedirectionSettingData":{"DefaultScreen":0}}`},
		{"set display offline", "PUT", "/api/v1/amt/kvm/displays/" + offline, `{"displayIndex":0}`, 404, notConnected},
	}
	e := newEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, b := e.do(t, tt.method, tt.path, tt.body, "")
			require.Equal(t, tt.status, s, b)
			if tt.want == "" {
				assert.Empty(t, b)
				return
			}
			assert.JSONEq(t, tt.want, b)
		})
	}
}

func TestConsentStateMachine(t *testing.T) {
	e := newEnv(t, nil)
	s, _ := e.do(t, "GET", "/api/v1/amt/userConsentCode/"+guid, "", "")
	require.Equal(t, 200, s)
	code := e.dev.Mgmt.Code()
	s, b := e.do(t, "GET", "/api/v1/amt/features/"+guid, "", "")
	require.Equal(t, 200, s)
	assert.Contains(t, b, `"optInState":2`)
	s, _ = e.do(t, "POST", "/api/v1/amt/userConsentCode/"+guid, fmt.Sprintf(`{"consentCode":%d}`, code), "")
	require.Equal(t, 200, s)
	_, b = e.do(t, "GET", "/api/v1/amt/features/"+guid, "", "")
	assert.Contains(t, b, `"optInState":3`)
	// MPS forwards a request even now; AMT (here MemManagement) refuses it.
	s, _ = e.do(t, "GET", "/api/v1/amt/userConsentCode/"+guid, "", "")
	assert.Equal(t, 400, s)
}

func TestBearer(t *testing.T) {
	e := newEnv(t, func(c *fakemps.Config) { c.RequireBearer = true; c.LoginTTL = time.Hour })
	s, b := e.do(t, "GET", "/api/v1/devices/"+guid, "", "")
	assert.Equal(t, http.StatusUnauthorized, s)
	assert.JSONEq(t, `{"message":"Unauthorized"}`, b)
	tok := e.login(t) // the login route needs no token
	s, _ = e.do(t, "GET", "/api/v1/devices/"+guid, "", tok)
	assert.Equal(t, http.StatusOK, s)
	s, _ = e.do(t, "GET", "/api/v1/devices/"+guid, "", tok+"x")
	assert.Equal(t, http.StatusUnauthorized, s)
	e.clock.Add(time.Hour)
	s, _ = e.do(t, "GET", "/api/v1/devices/"+guid, "", tok)
	assert.Equal(t, http.StatusUnauthorized, s, "expired")
}

func TestManagementFailure(t *testing.T) {
	e := newEnv(t, nil)
	e.dev.Mgmt.SetError(fmt.Errorf("WS-Man timed out"))
	s, b := e.do(t, "GET", "/api/v1/amt/features/"+guid, "", "")
	assert.Equal(t, http.StatusInternalServerError, s)
	assert.JSONEq(t, `{"error":"Internal Server Error","errorDescription":"Exception during AMT Features request"}`, b)
}
