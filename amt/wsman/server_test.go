package wsman

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exchange sends raw on a fresh connection to srv and returns the raw
// response bytes and the parsed response. It ends the connection after one
// response.
func exchange(t *testing.T, srv *Server, raw string) (string, *http.Response, string) {
	t.Helper()
	c1, c2 := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), c2) }()
	go func() { _, _ = io.WriteString(c1, raw) }()
	var rawResp bytes.Buffer
	resp, err := http.ReadResponse(bufio.NewReader(io.TeeReader(c1, &rawResp)), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, c1.Close())
	<-done
	return rawResp.String(), resp, string(body)
}

// authed frames body as an authenticated POST /wsman with a nonce from srv.
func authed(srv *Server, body string, nc int) string {
	nonce := srv.newNonce()
	ch := challenge{realm: testRealm, nonce: nonce, qop: "auth"}
	auth := authorization(ch, testUser, testPassword, "POST", "/wsman", fmt.Sprintf("%08x", nc), "c0ffee")
	return "POST /wsman HTTP/1.1\r\nAuthorization: " + auth + "\r\nHost: guid:16992\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// AMT's response envelope, as captured in Intel's MPS tests.
const wantRespOpen = `<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"`

func wantResponse(g, h, relatesTo, action, msgID, uri, body string) string {
	s := wantRespOpen
	if g != "" {
		s += ` xmlns:g="` + g + `"`
	}
	if h != "" {
		s += ` xmlns:h="` + h + `"`
	}
	s += ` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>` +
		relatesTo + `</b:RelatesTo><b:Action a:mustUnderstand="true">` + action + `</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-` + msgID + `</b:MessageID>`
	if uri != "" {
		s += `<c:ResourceURI>` + uri + `</c:ResourceURI>`
	}
	return s + `</a:Header><a:Body>` + body + `</a:Body></a:Envelope>`
}

const wantFaultEnum = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"

func TestServerResponses(t *testing.T) {
	const (
		redir  = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService"
		optin  = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"
		sap    = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_KVMRedirectionSAP"
		kvmset = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_KVMRedirectionSettingData"
		screen = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData"
		pms    = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService"
		sate   = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ServiceAvailableToElement"
		apms   = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AssociatedPowerManagementService"
		get    = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
		enum   = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
		pull   = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
	)
	kvmSettings := `<g:IPS_KVMRedirectionSettingData><g:BackToBackFbMode>false</g:BackToBackFbMode><g:DefaultScreen>%d</g:DefaultScreen><g:DoubleBufferMode>false</g:DoubleBufferMode><g:DoubleBufferState>false</g:DoubleBufferState><g:ElementName>Intel(r) KVM Redirection Settings</g:ElementName><g:EnabledByMEBx>true</g:EnabledByMEBx><g:GreyscalePixelFormatSupported>true</g:GreyscalePixelFormatSupported><g:InitialDecimationModeForLowRes>0</g:InitialDecimationModeForLowRes><g:InstanceID>Intel(r) KVM Redirection Settings</g:InstanceID><g:Is5900PortEnabled>false</g:Is5900PortEnabled><g:OptInPolicy>true</g:OptInPolicy><g:SessionTimeout>0</g:SessionTimeout><g:ZlibControlSupported>true</g:ZlibControlSupported></g:IPS_KVMRedirectionSettingData>`
	fault := func(sub, reason, detail string) string {
		return `<a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>` + sub + `</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">` + reason + `</a:Text></a:Reason><a:Detail>` + detail + `</a:Detail></a:Fault>`
	}
	invalidValues := `<c:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValues</c:FaultDetail>`

	tests := []struct {
		name       string
		setup      func(*fakeFirmware)
		enumFirst  string // enumerate this resource first (response 1)
		request    string
		wantStatus int
		want       string
	}{
		{
			name:       "get redirection service",
			request:    string(buildRequest(get, redir, 7, bodyEmpty)),
			wantStatus: 200,
			want: wantResponse(redir, "", "7", get+"Response", "000000000001", redir,
				`<g:AMT_RedirectionService><g:CreationClassName>AMT_RedirectionService</g:CreationClassName><g:ElementName>Intel(r) AMT Redirection Service</g:ElementName><g:EnabledState>32771</g:EnabledState><g:ListenerEnabled>true</g:ListenerEnabled><g:Name>Intel(r) AMT Redirection Service</g:Name><g:SystemCreationClassName>CIM_ComputerSystem</g:SystemCreationClassName><g:SystemName>Intel(r) AMT</g:SystemName></g:AMT_RedirectionService>`),
		},
		{
			name:       "get opt-in service",
			setup:      func(f *fakeFirmware) { f.features.OptInRequired, f.features.OptInState = OptInAll, OptInStateDisplayed },
			request:    string(buildRequest(get, optin, 7, bodyEmpty)),
			wantStatus: 200,
			want: wantResponse(optin, "", "7", get+"Response", "000000000001", optin,
				`<g:IPS_OptInService><g:CanModifyOptInPolicy>1</g:CanModifyOptInPolicy><g:CreationClassName>IPS_OptInService</g:CreationClassName><g:ElementName>Intel(r) AMT OptIn Service</g:ElementName><g:Name>Intel(r) AMT OptIn Service</g:Name><g:OptInCodeTimeout>120</g:OptInCodeTimeout><g:OptInDisplayTimeout>300</g:OptInDisplayTimeout><g:OptInRequired>4294967295</g:OptInRequired><g:OptInState>2</g:OptInState><g:SystemCreationClassName>CIM_ComputerSystem</g:SystemCreationClassName><g:SystemName>Intel(r) AMT</g:SystemName></g:IPS_OptInService>`),
		},
		{
			name:       "get KVM SAP",
			request:    string(buildRequest(get, sap, 7, bodyEmpty)),
			wantStatus: 200,
			want: wantResponse(sap, "", "7", get+"Response", "000000000001", sap,
				`<g:CIM_KVMRedirectionSAP><g:CreationClassName>CIM_KVMRedirectionSAP</g:CreationClassName><g:ElementName>KVM Redirection Service Access Point</g:ElementName><g:EnabledState>6</g:EnabledState><g:KVMProtocol>4</g:KVMProtocol><g:Name>KVM Redirection Service Access Point</g:Name><g:RequestedState>2</g:RequestedState><g:SystemCreationClassName>CIM_ComputerSystem</g:SystemCreationClassName><g:SystemName>ManagedSystem</g:SystemName></g:CIM_KVMRedirectionSAP>`),
		},
		{
			name:       "get KVM SAP without KVM",
			setup:      func(f *fakeFirmware) { f.features.KVMAvailable = false },
			request:    string(buildRequest(get, sap, 7, bodyEmpty)),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "7", "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault", "000000000001", "",
				fault("b:DestinationUnreachable", "No route can be determined to reach the destination role defined by the WSAddressing To.", "")),
		},
		{
			name:       "get KVM redirection settings",
			request:    string(buildRequest(get, kvmset, 7, bodyEmpty)),
			wantStatus: 200,
			want:       wantResponse(kvmset, "", "7", get+"Response", "000000000001", kvmset, fmt.Sprintf(kvmSettings, 0)),
		},
		{
			name:       "put KVM redirection settings",
			request:    string(buildRequest("http://schemas.xmlsoap.org/ws/2004/09/transfer/Put", kvmset, 7, `<Body><h:IPS_KVMRedirectionSettingData xmlns:h="`+kvmset+`"><h:DefaultScreen>1</h:DefaultScreen></h:IPS_KVMRedirectionSettingData></Body>`)),
			wantStatus: 200,
			want:       wantResponse(kvmset, "", "7", "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse", "000000000001", kvmset, fmt.Sprintf(kvmSettings, 1)),
		},
		{
			name:       "put KVM redirection settings, no such screen",
			request:    string(buildRequest("http://schemas.xmlsoap.org/ws/2004/09/transfer/Put", kvmset, 7, `<Body><h:IPS_KVMRedirectionSettingData xmlns:h="`+kvmset+`"><h:DefaultScreen>9</h:DefaultScreen></h:IPS_KVMRedirectionSettingData></Body>`)),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "7", "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", "000000000001", kvmset,
				fault("c:InvalidRepresentation", "The XML content is not valid.", invalidValues)),
		},
		{
			name:       "StartOptIn",
			request:    string(buildRequest(optin+"/StartOptIn", optin, 7, `<Body><h:StartOptIn_INPUT xmlns:h="`+optin+`"></h:StartOptIn_INPUT></Body>`)),
			wantStatus: 200,
			want: wantResponse(optin, "", "7", optin+"/StartOptInResponse", "000000000001", optin,
				`<g:StartOptIn_OUTPUT><g:ReturnValue>0</g:ReturnValue></g:StartOptIn_OUTPUT>`),
		},
		{
			name:       "SendOptInCode before StartOptIn",
			request:    string(buildRequest(optin+"/SendOptInCode", optin, 7, `<Body><h:SendOptInCode_INPUT xmlns:h="`+optin+`"><h:OptInCode>123456</h:OptInCode></h:SendOptInCode_INPUT></Body>`)),
			wantStatus: 200,
			want: wantResponse(optin, "", "7", optin+"/SendOptInCodeResponse", "000000000001", optin,
				`<g:SendOptInCode_OUTPUT><g:ReturnValue>2</g:ReturnValue></g:SendOptInCode_OUTPUT>`),
		},
		{
			name:       "SendOptInCode not a number",
			request:    string(buildRequest(optin+"/SendOptInCode", optin, 7, `<Body><h:SendOptInCode_INPUT xmlns:h="`+optin+`"><h:OptInCode>12x</h:OptInCode></h:SendOptInCode_INPUT></Body>`)),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "7", "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", "000000000001", optin,
				fault("c:InvalidRepresentation", "The XML content is not valid.", invalidValues)),
		},
		{
			name:       "CancelOptIn",
			request:    string(buildRequest(optin+"/CancelOptIn", optin, 7, `<Body><h:CancelOptIn_INPUT xmlns:h="`+optin+`"></h:CancelOptIn_INPUT></Body>`)),
			wantStatus: 200,
			want: wantResponse(optin, "", "7", optin+"/CancelOptInResponse", "000000000001", optin,
				`<g:CancelOptIn_OUTPUT><g:ReturnValue>0</g:ReturnValue></g:CancelOptIn_OUTPUT>`),
		},
		{
			name:       "RequestPowerStateChange",
			request:    string(buildRequest(pms+"/RequestPowerStateChange", pms, 7, powerStateChangeBody(8))),
			wantStatus: 200,
			want: wantResponse(pms, "", "7", pms+"/RequestPowerStateChangeResponse", "000000000001", pms,
				`<g:RequestPowerStateChange_OUTPUT><g:ReturnValue>0</g:ReturnValue></g:RequestPowerStateChange_OUTPUT>`),
		},
		{
			name:       "Enumerate power association",
			request:    string(buildRequest(enum, sate, 7, bodyEnumerate)),
			wantStatus: 200,
			want: wantResponse("http://schemas.xmlsoap.org/ws/2004/09/enumeration", "", "7", enum+"Response", "000000000001", sate,
				`<g:EnumerateResponse><g:EnumerationContext>01000000-0000-0000-0000-000000000000</g:EnumerationContext></g:EnumerateResponse>`),
		},
		{
			name:       "Pull power association",
			enumFirst:  sate,
			request:    string(buildRequest(pull, sate, 8, pullBody("01000000-0000-0000-0000-000000000000"))),
			wantStatus: 200,
			want: wantResponse("http://schemas.xmlsoap.org/ws/2004/09/enumeration", apms, "8", pull+"Response", "000000000002", sate,
				`<g:PullResponse><g:Items><h:CIM_AssociatedPowerManagementService><h:AvailableRequestedPowerStates>8</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>10</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>5</h:AvailableRequestedPowerStates><h:PowerState>2</h:PowerState>`+
					`<h:ServiceProvided><b:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:Address><b:ReferenceParameters><c:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService</c:ResourceURI><c:SelectorSet><c:Selector Name="CreationClassName">CIM_PowerManagementService</c:Selector><c:Selector Name="Name">Intel(r) AMT Power Management Service</c:Selector><c:Selector Name="SystemCreationClassName">CIM_ComputerSystem</c:Selector><c:Selector Name="SystemName">Intel(r) AMT</c:Selector></c:SelectorSet></b:ReferenceParameters></h:ServiceProvided>`+
					`<h:UserOfService><b:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:Address><b:ReferenceParameters><c:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</c:ResourceURI><c:SelectorSet><c:Selector Name="CreationClassName">CIM_ComputerSystem</c:Selector><c:Selector Name="Name">ManagedSystem</c:Selector></c:SelectorSet></b:ReferenceParameters></h:UserOfService></h:CIM_AssociatedPowerManagementService></g:Items><g:EndOfSequence></g:EndOfSequence></g:PullResponse>`),
		},
		{
			name:       "Pull screens",
			enumFirst:  screen,
			request:    string(buildRequest(pull, screen, 8, pullBody("01000000-0000-0000-0000-000000000000"))),
			wantStatus: 200,
			want: wantResponse("http://schemas.xmlsoap.org/ws/2004/09/enumeration", screen, "8", pull+"Response", "000000000002", screen,
				`<g:PullResponse><g:Items><h:IPS_ScreenSettingData><h:ElementName>Intel(r) Screen Settings</h:ElementName><h:InstanceID>Intel(r) Screen Settings 0</h:InstanceID><h:IsActive>true</h:IsActive><h:IsActive>true</h:IsActive><h:PrimaryIndex>0</h:PrimaryIndex><h:ResolutionX>1920</h:ResolutionX><h:ResolutionX>1280</h:ResolutionX><h:ResolutionY>1080</h:ResolutionY><h:ResolutionY>1024</h:ResolutionY><h:SecondaryIndex>1</h:SecondaryIndex><h:UpperLeftX>0</h:UpperLeftX><h:UpperLeftX>1920</h:UpperLeftX><h:UpperLeftY>0</h:UpperLeftY><h:UpperLeftY>0</h:UpperLeftY></h:IPS_ScreenSettingData></g:Items><g:EndOfSequence></g:EndOfSequence></g:PullResponse>`),
		},
		{
			name:       "Pull with an unknown context",
			request:    string(buildRequest(pull, screen, 7, pullBody("05000000-0000-0000-0000-000000000000"))),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "7", "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault", "000000000001", screen,
				fault("g:InvalidEnumerationContext", "The supplied enumeration context is invalid.", "")),
		},
		{
			name:       "Pull with another resource's context",
			enumFirst:  sate,
			request:    string(buildRequest(pull, screen, 8, pullBody("01000000-0000-0000-0000-000000000000"))),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "8", "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault", "000000000002", screen,
				fault("g:InvalidEnumerationContext", "The supplied enumeration context is invalid.", "")),
		},
		{
			name:       "unknown resource",
			request:    string(buildRequest(get, "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings", 7, bodyEmpty)),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "7", "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault", "000000000001", "",
				fault("b:DestinationUnreachable", "No route can be determined to reach the destination role defined by the WSAddressing To.", "")),
		},
		{
			name:       "unsupported action",
			request:    string(buildRequest("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", redir, 7, bodyEmpty)),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "7", "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault", "000000000001", redir,
				fault("b:ActionNotSupported", "The action is not supported by the service.", "")),
		},
		{
			name:       "no MessageID",
			request:    strings.Replace(string(buildRequest(get, redir, 7, bodyEmpty)), "<a:MessageID>7</a:MessageID>", "", 1),
			wantStatus: 400,
			want: wantResponse(wantFaultEnum, "", "", "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault", "000000000001", "",
				fault("b:MessageInformationHeaderRequired", "A required header representing a Message Addressing Property is not present", "")),
		},
		{
			name:       "MessageID needing escapes is echoed escaped",
			request:    strings.Replace(string(buildRequest(get, redir, 7, bodyEmpty)), "<a:MessageID>7<", "<a:MessageID>uuid:&lt;x&gt;&amp;<", 1),
			wantStatus: 200,
			want: wantResponse(redir, "", "uuid:&lt;x&gt;&amp;", get+"Response", "000000000001", redir,
				`<g:AMT_RedirectionService><g:CreationClassName>AMT_RedirectionService</g:CreationClassName><g:ElementName>Intel(r) AMT Redirection Service</g:ElementName><g:EnabledState>32771</g:EnabledState><g:ListenerEnabled>true</g:ListenerEnabled><g:Name>Intel(r) AMT Redirection Service</g:Name><g:SystemCreationClassName>CIM_ComputerSystem</g:SystemCreationClassName><g:SystemName>Intel(r) AMT</g:SystemName></g:AMT_RedirectionService>`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := newFakeFirmware()
			if tt.setup != nil {
				tt.setup(fw)
			}
			srv := newTestServer(t, fw)
			if tt.enumFirst != "" {
				_, resp, _ := exchange(t, srv, authed(srv, string(buildRequest(enum, tt.enumFirst, 1, bodyEnumerate)), 1))
				require.Equal(t, 200, resp.StatusCode)
			}
			raw, resp, body := exchange(t, srv, authed(srv, tt.request, 1))
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.want, body)
			assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
			assert.True(t, strings.HasSuffix(raw, "\r\n0\r\n\r\n"), "ends the chunked body")
			assert.Equal(t, len(raw)-len("0\r\n\r\n"), strings.Index(raw, "0\r\n\r\n"), "MPS sees the end only at the end")
		})
	}
}

// TestServerResponseBytes pins the whole HTTP response: AMT's headers and
// chunking (four uppercase hex digits, at most 512 bytes a chunk).
func TestServerResponseBytes(t *testing.T) {
	srv := newTestServer(t, newFakeFirmware())
	optin := "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"
	raw, _, _ := exchange(t, srv, authed(srv, string(buildRequest(optin+"/StartOptIn", optin, 3, `<Body><h:StartOptIn_INPUT xmlns:h="`+optin+`"></h:StartOptIn_INPUT></Body>`)), 1))
	env := wantResponse(optin, "", "3", optin+"/StartOptInResponse", "000000000001", optin, `<g:StartOptIn_OUTPUT><g:ReturnValue>0</g:ReturnValue></g:StartOptIn_OUTPUT>`)
	require.Greater(t, len(env), 1024)
	require.Less(t, len(env), 1536)
	want := "HTTP/1.1 200 OK\r\n" +
		"Date: Mon, 10 Jan 2022 20:37:48 GMT\r\n" +
		"Server: Intel(R) Active Management Technology 15.0.23.1706\r\n" +
		"X-Frame-Options: DENY\r\n" +
		"Content-Type: application/soap+xml; charset=UTF-8\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"\r\n" +
		"0200\r\n" + env[:512] + "\r\n" +
		"0200\r\n" + env[512:1024] + "\r\n" +
		fmt.Sprintf("%04X\r\n", len(env)-1024) + env[1024:] + "\r\n" +
		"0\r\n\r\n"
	assert.Equal(t, want, raw)
}

var challengeRE = regexp.MustCompile(`^HTTP/1\.1 401 Unauthorized\r\n` +
	`WWW-Authenticate: Digest realm="Digest:34BF4B5A0561F95248F58509A406E046", nonce="([A-Za-z0-9+/]{32})",stale="(true|false)",qop="auth"\r\n` +
	`Content-Type: text/html\r\n` +
	`Server: Intel\(R\) Active Management Technology 15\.0\.23\.1706\r\n` +
	`Content-Length: (\d+)\r\n` +
	`Connection: close\r\n\r\n` +
	`(<!DOCTYPE HTML[^\r]*</html>)$`)

func TestServerChallenge(t *testing.T) {
	srv := newTestServer(t, newFakeFirmware())
	req := "POST /wsman HTTP/1.1\r\nHost: guid:16992\r\nContent-Length: 0\r\n\r\n"
	raw1, _, _ := exchange(t, srv, req)
	m1 := challengeRE.FindStringSubmatch(raw1)
	require.NotNil(t, m1, "401 shape: %q", raw1)
	assert.Equal(t, "false", m1[2])
	assert.Equal(t, strconv.Itoa(len(m1[4])), m1[3])
	raw2, _, _ := exchange(t, srv, req)
	m2 := challengeRE.FindStringSubmatch(raw2)
	require.NotNil(t, m2)
	assert.NotEqual(t, m1[1], m2[1], "every challenge has a fresh nonce")
}

func TestServerBadRequests(t *testing.T) {
	srv := newTestServer(t, newFakeFirmware())
	raw, _, _ := exchange(t, srv, authed(srv, "<not xml", 1))
	assert.Equal(t, "HTTP/1.1 400 Bad Request\r\nDate: Mon, 10 Jan 2022 20:37:48 GMT\r\nServer: Intel(R) Active Management Technology 15.0.23.1706\r\nContent-Length: 0\r\n\r\n", raw)

	raw, resp, body := exchange(t, srv, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	assert.Equal(t, 404, resp.StatusCode)
	assert.True(t, strings.HasSuffix(body, "</html>"))
	assert.Contains(t, raw, "Connection: close\r\n")

	// A body over the limit is refused, not read whole.
	big := authed(srv, strings.Repeat("x", maxRequestBytes+10), 2)
	_, resp, _ = exchange(t, srv, big)
	assert.Equal(t, 400, resp.StatusCode)
}
