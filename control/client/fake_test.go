package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRelay implements just enough of the /api/v1 contract for the client's tests: login with
// optional TOTP, rotating refresh tokens whose reuse revokes the family, devices, and audit
// pages. The real relay's routes get their own end-to-end test.
type fakeRelay struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	now         time.Time
	totp        string          // required second factor ("" none)
	access      map[string]bool // valid access tokens
	refresh     map[string]bool // valid (unrotated) refresh tokens
	rotated     map[string]bool // refresh tokens already used
	n           int             // token counter
	refreshes   int             // successful refreshes
	reuses      int             // rotated refresh tokens presented again
	unauth      int             // 401s answered to bearer tokens
	devices     []Device
	audit       []AuditEntry
	shown       []string // the device_token of each successful login, in order
	auditAfters []int64  // after= of every audit request
	authSeen    []string
}

func newFakeRelay(t *testing.T) *fakeRelay {
	f := &fakeRelay{
		t:       t,
		now:     time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		access:  map[string]bool{},
		refresh: map[string]bool{},
		rotated: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", f.login)
	mux.HandleFunc("POST /api/v1/auth/refresh", f.refreshToken)
	mux.HandleFunc("POST /api/v1/auth/logout", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		delete(f.refresh, in.RefreshToken)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/v1/me", f.authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSONAnswer(w, http.StatusOK, Me{OrgSlug: "acme", Kind: "user", ID: "u1", Email: "ops@acme.test", Role: "admin"})
	}))
	mux.HandleFunc("GET /api/v1/devices", f.authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSONAnswer(w, http.StatusOK, map[string]any{"devices": f.devices})
	}))
	mux.HandleFunc("GET /api/v1/audit", f.authed(f.auditPage))
	mux.HandleFunc("GET /api/v1/audit/verify", f.authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSONAnswer(w, http.StatusOK, AuditVerification{OK: true, Entries: int64(len(f.audit))})
	}))
	mux.HandleFunc("POST /api/v1/me/password", f.authed(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in["current_password"] != "hunter2" {
			apiErr(w, http.StatusForbidden, CodeForbidden, "The current password is wrong")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.access, f.refresh = map[string]bool{}, map[string]bool{} // every session ends
		writeJSONAnswer(w, http.StatusOK, f.issue())
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSONAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSONAnswer(w, status, map[string]string{"code": code, "message": msg})
}

func (f *fakeRelay) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// issue makes a token pair; f.mu held.
func (f *fakeRelay) issue() Tokens {
	f.n++
	t := Tokens{
		TokenType:        "Bearer",
		AccessToken:      fmt.Sprintf("access-%d", f.n),
		AccessExpiresAt:  f.now.Add(15 * time.Minute),
		RefreshToken:     fmt.Sprintf("refresh-%d", f.n),
		RefreshExpiresAt: f.now.Add(7 * 24 * time.Hour),
	}
	f.access[t.AccessToken] = true
	f.refresh[t.RefreshToken] = true
	return t
}

func (f *fakeRelay) login(w http.ResponseWriter, r *http.Request) {
	var in LoginRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		apiErr(w, http.StatusBadRequest, CodeBadRequest, "malformed JSON")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.Org != "acme" || in.Email != "ops@acme.test" || in.Password != "hunter2" {
		apiErr(w, http.StatusUnauthorized, CodeUnauthorized, "wrong organization, email or password")
		return
	}
	if f.totp != "" && in.TOTP != f.totp {
		apiErr(w, http.StatusUnauthorized, CodeMFARequired, "enter the code from your authenticator app")
		return
	}
	f.shown = append(f.shown, in.DeviceToken)
	t := f.issue()
	t.DeviceToken = fmt.Sprintf("device-%d", len(f.shown))
	writeJSONAnswer(w, http.StatusOK, t)
}

func (f *fakeRelay) refreshToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rotated[in.RefreshToken] {
		f.reuses++
		f.refresh = map[string]bool{} // the whole family (the fake has one)
		apiErr(w, http.StatusUnauthorized, CodeInvalidToken, "refresh token reused; session revoked: log in again")
		return
	}
	if !f.refresh[in.RefreshToken] {
		apiErr(w, http.StatusUnauthorized, CodeInvalidToken, "refresh token not accepted: log in again")
		return
	}
	delete(f.refresh, in.RefreshToken)
	f.rotated[in.RefreshToken] = true
	f.refreshes++
	writeJSONAnswer(w, http.StatusOK, f.issue())
}

// expireAccess makes every access token issued so far invalid at the server.
func (f *fakeRelay) expireAccess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.access = map[string]bool{}
}

func (f *fakeRelay) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		f.authSeen = append(f.authSeen, tok)
		ok := f.access[tok] || tok == "kvm_ak_good"
		if !ok {
			f.unauth++
		}
		f.mu.Unlock()
		if !ok {
			apiErr(w, http.StatusUnauthorized, CodeUnauthorized, "access token expired or invalid")
			return
		}
		h(w, r)
	}
}

func (f *fakeRelay) auditPage(w http.ResponseWriter, r *http.Request) {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		apiErr(w, http.StatusBadRequest, CodeBadRequest, "after: not a number")
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	f.mu.Lock()
	f.auditAfters = append(f.auditAfters, after)
	f.mu.Unlock()
	page := []AuditEntry{}
	next := after
	for _, e := range f.audit {
		if e.Seq > after && len(page) < limit {
			page = append(page, e)
			next = e.Seq
		}
	}
	writeJSONAnswer(w, http.StatusOK, map[string]any{"entries": page, "next_after": next})
}

func (f *fakeRelay) stats() (refreshes, reuses, unauth int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshes, f.reuses, f.unauth
}
