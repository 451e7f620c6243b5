package fakemps

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxRequestBody bounds REST request bodies (MPS's body-parser default is 100 kB).
const maxRequestBody = 100 << 10

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/authorize", s.login)
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/authorize/redirection/{guid}", s.authorizeDevice)
	api.HandleFunc("GET /api/v1/devices", s.listDevices)
	api.HandleFunc("GET /api/v1/devices/{guid}", s.getDevice)
	api.HandleFunc("GET /api/v1/devices/redirectstatus/{guid}", s.cira(s.redirectStatus))
	api.HandleFunc("DELETE /api/v1/devices/disconnect/{guid}", s.cira(s.disconnect))
	api.HandleFunc("GET /api/v1/amt/power/state/{guid}", s.cira(s.powerState))
	api.HandleFunc("POST /api/v1/amt/power/action/{guid}", s.powerAction)
	api.HandleFunc("GET /api/v1/amt/features/{guid}", s.cira(s.features))
	api.HandleFunc("GET /api/v1/amt/userConsentCode/{guid}", s.cira(s.consentRequest))
	api.HandleFunc("POST /api/v1/amt/userConsentCode/{guid}", s.consentSend)
	api.HandleFunc("GET /api/v1/amt/userConsentCode/cancel/{guid}", s.cira(s.consentCancel))
	api.HandleFunc("GET /api/v1/amt/kvm/displays/{guid}", s.cira(s.displays))
	api.HandleFunc("PUT /api/v1/amt/kvm/displays/{guid}", s.setDisplay)
	mux.Handle("/api/v1/", s.bearer(api))
	mux.HandleFunc("/relay/webrelay.ashx", s.relay)
	return mux
}

// bearer checks the token as Kong's JWT plugin in front of MPS does (signature and exp), when
// Config.RequireBearer is set.
func (s *Server) bearer(next http.Handler) http.Handler {
	if !s.cfg.RequireBearer {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
			return
		}
		if _, err := s.verify(tok); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid signature or expired token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorResponse is MPS's ErrorResponse(status, description).
func errorResponse(w http.ResponseWriter, status int, desc string) {
	text := map[int]string{
		400: "Incorrect URI or Bad Request",
		401: "Unauthorized",
		404: "Device not found/connected. Please connect again using CIRA.",
		500: "Internal Server Error",
	}[status]
	body := map[string]string{"error": text}
	if desc != "" {
		body["errorDescription"] = desc
	}
	writeJSON(w, status, body)
}

// validationError is express-validator's 400 {errors:[{msg, param, location}]}.
func validationError(w http.ResponseWriter, param, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"errors": []map[string]string{{"msg": msg, "param": param, "location": "body"}},
	})
}

// readBody decodes a JSON body (bounded); a bad one is MPS's 400 ErrorResponse.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(b) > maxRequestBody || json.Unmarshal(b, v) != nil {
		errorResponse(w, http.StatusBadRequest, "")
		return false
	}
	return true
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validGUID is MPS's param('guid').isUUID('loose').
func validGUID(w http.ResponseWriter, guid string) bool {
	if !uuidRE.MatchString(guid) {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"errors": []map[string]string{{"msg": "Invalid value", "param": "guid", "location": "params", "value": guid}},
		})
		return false
	}
	return true
}

// login is POST /authorize: {username, password} → {token} with deviceId "*".
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	if !readBody(w, r, &in) {
		return
	}
	user, ok := in.Username.(string)
	if !ok || user == "" {
		validationError(w, "username", "User name is required")
		return
	}
	pass, _ := in.Password.(string)
	if pass == "" {
		validationError(w, "password", "Password is required")
		return
	}
	for u, p := range s.cfg.Users {
		if strings.EqualFold(u, user) && subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1 {
			tok, err := s.sign("*", s.cfg.LoginTTL, s.secret)
			if err != nil {
				errorResponse(w, http.StatusInternalServerError, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"token": tok})
			return
		}
	}
	s.log.Debug("fakemps: login failed", "user", user)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Incorrect Username and/or Password!"})
}

// authorizeDevice is GET /authorize/redirection/{guid}: a 5-minute token for a known device
// (connected or not); 404 with no body otherwise.
func (s *Server) authorizeDevice(w http.ResponseWriter, r *http.Request) {
	guid := r.PathValue("guid")
	if !validGUID(w, guid) {
		return
	}
	if !s.cfg.Devices.Known(guid) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	tok, err := s.redirectionToken(guid)
	if err != nil {
		errorResponse(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// deviceJSON is MPS's Device row.
type deviceJSON struct {
	ConnectionStatus bool     `json:"connectionStatus"`
	MPSInstance      *string  `json:"mpsInstance"`
	Hostname         string   `json:"hostname"`
	GUID             string   `json:"guid"`
	MPSUsername      string   `json:"mpsusername"`
	Tags             []string `json:"tags"`
	TenantID         string   `json:"tenantId"`
	FriendlyName     *string  `json:"friendlyName"`
	DNSSuffix        *string  `json:"dnsSuffix"`
}

func (s *Server) deviceJSON(d DeviceInfo) deviceJSON {
	j := deviceJSON{
		ConnectionStatus: s.cfg.Devices.Connected(d.GUID),
		Hostname:         d.Hostname,
		GUID:             d.GUID,
		MPSUsername:      d.MPSUsername,
		Tags:             d.Tags,
		TenantID:         d.TenantID,
		FriendlyName:     nullable(d.FriendlyName),
		DNSSuffix:        nullable(d.DNSSuffix),
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if j.ConnectionStatus {
		inst := "fakemps"
		j.MPSInstance = &inst
	}
	return j
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// listDevices is GET /devices with MPS's $top (default 25), $skip, $count and status.
func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	num := func(name string, def int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"errors": []map[string]string{{"msg": "should be a positive integer", "param": name, "location": "query"}},
			})
			return 0, false
		}
		return n, true
	}
	top, ok := num("$top", 25)
	if !ok {
		return
	}
	skip, ok := num("$skip", 0)
	if !ok {
		return
	}
	all := s.cfg.Devices.List()
	slices.SortFunc(all, func(a, b DeviceInfo) int { return strings.Compare(a.GUID, b.GUID) })
	total := len(all)
	page := []deviceJSON{}
	for i := skip; i < len(all) && i < skip+top; i++ {
		page = append(page, s.deviceJSON(all[i]))
	}
	if st := q.Get("status"); st != "" {
		want := st == "1"
		page = slices.DeleteFunc(page, func(d deviceJSON) bool { return d.ConnectionStatus != want })
	}
	if q.Get("$count") == "true" {
		writeJSON(w, http.StatusOK, map[string]any{"data": page, "totalCount": total})
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// getDevice is GET /devices/{guid}: the row, or 404 with no body.
func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) {
	guid := r.PathValue("guid")
	if !validGUID(w, guid) {
		return
	}
	for _, d := range s.cfg.Devices.List() {
		if d.GUID == guid {
			writeJSON(w, http.StatusOK, s.deviceJSON(d))
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
}

// cira is MPS's ciraMiddleware: 404 unless the device's CIRA link is up.
func (s *Server) cira(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		guid := r.PathValue("guid")
		if !s.cfg.Devices.Connected(guid) {
			errorResponse(w, http.StatusNotFound, "guid : "+guid)
			return
		}
		next(w, r, guid)
	}
}

// redirectStatus is GET /devices/redirectstatus/{guid}.
func (s *Server) redirectStatus(w http.ResponseWriter, r *http.Request, guid string) {
	if !validGUID(w, guid) {
		return
	}
	s.mu.Lock()
	st := map[string]bool{
		"isKVMConnected":  s.slots[guid]["kvm"] != nil,
		"isSOLConnected":  s.slots[guid]["sol"] != nil,
		"isIDERConnected": s.slots[guid]["ider"] != nil,
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

// Disconnecter is an optional Devices method behind DELETE /devices/disconnect/{guid}: drop
// the device's CIRA link.
type Disconnecter interface {
	Disconnect(guid string) error
}

func (s *Server) disconnect(w http.ResponseWriter, r *http.Request, guid string) {
	d, ok := s.cfg.Devices.(Disconnecter)
	if !ok {
		errorResponse(w, http.StatusInternalServerError, "Exception during disconnect of device")
		return
	}
	if err := d.Disconnect(guid); err != nil {
		errorResponse(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": 200, "description": "Device disconnected : " + guid})
}
