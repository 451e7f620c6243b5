package fakemps

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

// returnNames are MPS's AMTStatusCodes for the values a bridge meets; MPS leaves
// ReturnValueStr out for others.
var returnNames = map[int]string{
	0x0000: "SUCCESS",
	0x0001: "INTERNAL_ERROR",
	0x0002: "NOT_READY",
	0x0010: "NOT_PERMITTED",
	0x0024: "INVALID_PARAMETER",
	0x0812: "UNSUPPORTED",
	0x0821: "USER_CONSENT_REQUIRED",
}

// methodReply is MPS's {Header, Body: <method>_OUTPUT + ReturnValueStr}.
func methodReply(resource, method string, rv int) map[string]any {
	body := map[string]any{"ReturnValue": rv}
	if name, ok := returnNames[rv]; ok {
		body["ReturnValueStr"] = name
	}
	return map[string]any{
		"Header": map[string]string{
			"To":          "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
			"RelatesTo":   "0",
			"Action":      resource + "/" + method + "Response",
			"ResourceURI": resource,
		},
		"Body": body,
	}
}

const (
	optInResource = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"
	powerResource = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService"
)

// powerActions are MPS's DMTFCombinedPowerStates, which its validator accepts.
var powerActions = []int{2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17,
	100, 101, 104, 105, 106, 107, 108, 109, 110, 200, 201, 202, 203, 300, 301, 400, 401, 500, 501}

// number reads a JSON value the way express-validator's isNumeric accepts it: a number or a
// numeric string.
func number(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x != float64(int(x)) {
			return 0, false
		}
		return int(x), true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func (s *Server) powerState(w http.ResponseWriter, r *http.Request, guid string) {
	st, err := s.cfg.Devices.Management(guid).PowerState(r.Context())
	if err != nil {
		errorResponse(w, http.StatusInternalServerError, "Exception during Power State request")
		return
	}
	if st == 0 {
		errorResponse(w, http.StatusBadRequest, "Power state request failed for guid : "+guid+".")
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"powerstate": st, "OSPowerSavingState": 0})
}

// powerAction is POST /amt/power/action/{guid} {"action":N}: validated before the CIRA check;
// 200 with AMT's ReturnValue whatever it is.
func (s *Server) powerAction(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Action any `json:"action"`
	}
	if !readBody(w, r, &in) {
		return
	}
	action, ok := number(in.Action)
	if !ok || !slices.Contains(powerActions, action) {
		validationError(w, "action", "Invalid value")
		return
	}
	s.cira(func(w http.ResponseWriter, r *http.Request, guid string) {
		rv, err := s.cfg.Devices.Management(guid).RequestPowerStateChange(r.Context(), action)
		if err != nil {
			errorResponse(w, http.StatusInternalServerError, "Exception during Power Action")
			return
		}
		writeJSON(w, http.StatusOK, methodReply(powerResource, "RequestPowerStateChange", rv))
	})(w, r)
}

func (s *Server) features(w http.ResponseWriter, r *http.Request, guid string) {
	f, err := s.cfg.Devices.Management(guid).Features(r.Context())
	if err != nil {
		errorResponse(w, http.StatusInternalServerError, "Exception during AMT Features request")
		return
	}
	out := map[string]any{
		"redirection":           f.Redirection,
		"KVM":                   f.KVM,
		"SOL":                   f.SOL,
		"IDER":                  f.IDER,
		"optInState":            f.OptInState,
		"kvmAvailable":          f.KVMAvailable,
		"ocr":                   false,
		"httpsBootSupported":    false,
		"winREBootSupported":    false,
		"localPBABootSupported": false,
		"remoteErase":           false,
	}
	// MPS looks the OptInRequired value up in {none: 0, kvm: 1, all: 4294967295}; an other
	// value leaves userConsent out.
	switch f.OptInRequired {
	case OptInNone:
		out["userConsent"] = "none"
	case OptInKVM:
		out["userConsent"] = "kvm"
	case OptInAll:
		out["userConsent"] = "all"
	}
	writeJSON(w, http.StatusOK, out)
}

// consentReply answers like MPS's userConsent routes: 200 only for ReturnValue 0, else 400
// with the same body.
func consentReply(w http.ResponseWriter, method string, rv int, err error) {
	if err != nil {
		errorResponse(w, http.StatusInternalServerError, "Exception during user consent "+method)
		return
	}
	status := http.StatusOK
	if rv != 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, methodReply(optInResource, method, rv))
}

// consentRequest is GET /amt/userConsentCode/{guid}. Like MPS it always asks AMT: skipping
// the request when consent is already given is the console's job.
func (s *Server) consentRequest(w http.ResponseWriter, r *http.Request, guid string) {
	rv, err := s.cfg.Devices.Management(guid).StartOptIn(r.Context())
	consentReply(w, "StartOptIn", rv, err)
}

// consentSend is POST /amt/userConsentCode/{guid} {"consentCode":N}: validated first.
func (s *Server) consentSend(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code any `json:"consentCode"`
	}
	if !readBody(w, r, &in) {
		return
	}
	code, ok := number(in.Code)
	if !ok {
		validationError(w, "consentCode", "Invalid value")
		return
	}
	s.cira(func(w http.ResponseWriter, r *http.Request, guid string) {
		rv, err := s.cfg.Devices.Management(guid).SendOptInCode(r.Context(), code)
		consentReply(w, "SendOptInCode", rv, err)
	})(w, r)
}

func (s *Server) consentCancel(w http.ResponseWriter, r *http.Request, guid string) {
	rv, err := s.cfg.Devices.Management(guid).CancelOptIn(r.Context())
	consentReply(w, "CancelOptIn", rv, err)
}

// displayJSON is MPS's KVMScreenDisplay.
type displayJSON struct {
	DisplayIndex int    `json:"displayIndex"`
	IsActive     bool   `json:"isActive"`
	UpperLeftX   int    `json:"upperLeftX"`
	UpperLeftY   int    `json:"upperLeftY"`
	ResolutionX  int    `json:"resolutionX"`
	ResolutionY  int    `json:"resolutionY"`
	IsDefault    bool   `json:"isDefault"`
	Role         string `json:"role,omitempty"`
}

func (s *Server) displays(w http.ResponseWriter, r *http.Request, guid string) {
	ds, err := s.cfg.Devices.Management(guid).Displays(r.Context())
	if err != nil {
		errorResponse(w, http.StatusInternalServerError, "Exception during get KVM screen settings")
		return
	}
	out := []displayJSON{}
	for _, d := range ds {
		out = append(out, displayJSON{d.Index, d.Active, d.UpperLeftX, d.UpperLeftY, d.ResolutionX, d.ResolutionY, d.Default, d.Role})
	}
	writeJSON(w, http.StatusOK, map[string]any{"displays": out})
}

// setDisplay is PUT /amt/kvm/displays/{guid} {"displayIndex":N}. MPS runs the validator but
// not its error check on this route, so a bad index reaches AMT; the fake answers 500 as a
// failed put does.
func (s *Server) setDisplay(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Index json.RawMessage `json:"displayIndex"`
	}
	if !readBody(w, r, &in) {
		return
	}
	s.cira(func(w http.ResponseWriter, r *http.Request, guid string) {
		var v any
		_ = json.Unmarshal(in.Index, &v)
		idx, ok := number(v)
		if !ok {
			errorResponse(w, http.StatusInternalServerError, "Failed to set KVM Redirection Setting Data")
			return
		}
		if err := s.cfg.Devices.Management(guid).SetDefaultDisplay(r.Context(), idx); err != nil {
			errorResponse(w, http.StatusInternalServerError, "Failed to set KVM Redirection Setting Data")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"IPS_KVMRedirectionSettingData": map[string]int{"DefaultScreen": idx}})
	})(w, r)
}
