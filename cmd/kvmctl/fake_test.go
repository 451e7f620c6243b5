package main

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

// fakeRelay answers the /api/v1 routes kvmctl calls with canned data, enough to check
// kvmctl's output and exit codes (the client's own tests cover token refresh). The real
// relay's routes get an end-to-end test.
type fakeRelay struct {
	srv *httptest.Server

	mu       sync.Mutex
	totp     string                      // login needs this code ("" none)
	slowed   bool                        // the account is slowed by a flood: only the code gets in
	fail     map[string]fakeError        // "METHOD /path" → forced error answer
	requests []string                    // "METHOD /path body"
	devices  []map[string]any            // as served
	sessions map[string][]map[string]any // device id → sessions, newest first
	audit    []map[string]any
	broken   int64 // audit/verify reports this seq broken (0: intact)
	disabled map[string]bool
	purged   []string // devices deleted (DELETE ?purge=true)
}

type fakeError struct {
	status     int
	code, msg  string
	retryAfter string
}

const (
	fakeKey    = "kvm_ak_test"
	fakeAccess = "access-1"
)

// Fixed times in the fake's answers (kvmctl prints them in UTC, RFC 3339).
var (
	tCreated = time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC)
	tExpires = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

func newFakeRelay(t *testing.T) *fakeRelay {
	f := &fakeRelay{fail: map[string]fakeError{}, sessions: map[string][]map[string]any{}}
	f.devices = []map[string]any{
		{"id": "d0000000-0000-4000-8000-000000000001", "name": "web1", "labels": map[string]string{"rack": "a", "env": "prod"},
			"created_at": tCreated, "online": true, "last_seen": tCreated, "agent_version": "1.2.3", "capabilities": map[string]any{"codecs": []string{"h264"}}},
		{"id": "d0000000-0000-4000-8000-000000000002", "name": "db", "labels": map[string]string{}, "created_at": tCreated,
			"online": false, "agent_version": "\x1b[31mevil\x1b[0m", "capabilities": ""},
		{"id": "d0000000-0000-4000-8000-000000000003", "name": "db", "labels": map[string]string{"rack": "b"}, "created_at": tCreated,
			"online": false, "agent_version": "", "capabilities": ""},
	}
	f.sessions["d0000000-0000-4000-8000-000000000001"] = []map[string]any{
		{"id": "s2", "device_id": "d0000000-0000-4000-8000-000000000001", "principal": "user:u1", "desired": "ACTIVE", "current": "ACTIVE",
			"reason": "", "created_at": tCreated, "updated_at": tCreated, "expires_at": tExpires},
		{"id": "s1", "device_id": "d0000000-0000-4000-8000-000000000001", "principal": "user:u1", "principal_name": "vera@acme.example", "desired": "STOPPED", "current": "ERROR",
			"reason": "agent went away", "created_at": tCreated, "updated_at": tCreated, "expires_at": tCreated},
	}
	for i := 1; i <= 5; i++ {
		f.audit = append(f.audit, map[string]any{"seq": i, "time": tCreated, "actor": "user:u1", "action": "device.create",
			"target": fmt.Sprintf("device:d%d", i), "details": map[string]any{"name": "web1"}, "hash": fmt.Sprintf("h%d", i), "prev_hash": fmt.Sprintf("h%d", i-1)})
	}
	f.audit[1]["actor_name"] = "vera@acme.test\x1b[2J" // entries since actor names; hostile text too

	mux := http.NewServeMux()
	route := func(pattern string, authed bool, h func(r *http.Request, body map[string]any) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			b, _ := json.Marshal(body)
			f.mu.Lock()
			f.requests = append(f.requests, r.Method+" "+r.URL.Path+" "+string(b))
			fe, failing := f.fail[r.Method+" "+r.URL.Path]
			f.mu.Unlock()
			if authed {
				tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if tok != fakeKey && tok != fakeAccess {
					fe, failing = fakeError{http.StatusUnauthorized, "unauthorized", "invalid credentials: log in again", ""}, true
				}
			}
			if failing {
				if fe.retryAfter != "" {
					w.Header().Set("Retry-After", fe.retryAfter)
				}
				answer(w, fe.status, map[string]string{"code": fe.code, "message": fe.msg})
				return
			}
			f.mu.Lock()
			status, out := h(r, body)
			f.mu.Unlock()
			answer(w, status, out)
		})
	}
	route("POST /api/v1/auth/login", false, func(r *http.Request, in map[string]any) (int, any) {
		if in["org"] != "acme" || in["email"] != "ops@acme.test" || in["password"] != " hunter2 " {
			return 401, map[string]string{"code": "unauthorized", "message": "wrong organization, email or password"}
		}
		if f.slowed && in["totp"] != f.totp {
			return 429, map[string]string{"code": "account-slowed", "message": "Many wrong passwords were tried at this account from elsewhere, so it is slowed down: wait 5s, or, if your account has two-factor authentication, sign in now with the code from your authenticator app."}
		}
		if f.totp != "" && in["totp"] != f.totp && in["recovery_code"] != "rec-overy" {
			return 401, map[string]string{"code": "mfa-required", "message": "enter the code from your authenticator app"}
		}
		return 200, map[string]any{"token_type": "Bearer", "access_token": fakeAccess, "access_expires_at": tExpires,
			"refresh_token": "refresh-1", "refresh_expires_at": tExpires}
	})
	route("POST /api/v1/auth/logout", false, func(*http.Request, map[string]any) (int, any) { return 204, nil })
	route("GET /api/v1/me", true, func(*http.Request, map[string]any) (int, any) {
		return 200, map[string]any{"org_id": "o1", "org_slug": "acme", "kind": "user", "id": "u1", "email": "ops@acme.test", "role": "admin", "scope": map[string]string{}}
	})
	route("GET /api/v1/devices", true, func(*http.Request, map[string]any) (int, any) {
		return 200, map[string]any{"devices": f.devices}
	})
	route("POST /api/v1/devices", true, func(_ *http.Request, in map[string]any) (int, any) {
		out := map[string]any{"id": "d0000000-0000-4000-8000-000000000009", "name": in["name"], "labels": in["labels"], "created_at": tCreated,
			"online": false, "kind": "agent"}
		if in["kind"] == "gateway" {
			out["kind"], out["amt_tags"] = "gateway", []any{}
			if tags, ok := in["amt_tags"]; ok {
				out["amt_tags"] = tags
			}
		}
		// An AMT machine: the gateway named by id or name, as the relay resolves it.
		if amt, ok := in["amt"].(map[string]any); ok {
			if amt["gateway"] != "mps-gw" && amt["gateway"] != "d0000000-0000-4000-8000-00000000000a" {
				return 400, map[string]string{"code": "bad-request", "message": fmt.Sprintf("No gateway %q in your organization; create one first (kind gateway) and name it by id or name.", amt["gateway"])}
			}
			out["gateway"], out["gateway_name"], out["amt_guid"] = "d0000000-0000-4000-8000-00000000000a", "mps-gw", strings.ToLower(amt["guid"].(string))
		}
		return 201, out
	})
	route("DELETE /api/v1/devices/{id}", true, func(r *http.Request, _ map[string]any) (int, any) {
		if r.URL.Query().Get("purge") != "true" {
			return 204, nil
		}
		for _, d := range f.devices {
			if d["id"] == r.PathValue("id") && d["revoked_at"] == nil {
				return 409, map[string]string{"code": "conflict", "message": fmt.Sprintf("Device %q is not revoked; revoke it first (kvmctl devices revoke), then delete it.", d["name"])}
			}
		}
		f.purged = append(f.purged, r.PathValue("id"))
		return 204, nil
	})
	route("PATCH /api/v1/devices/{id}", true, func(r *http.Request, in map[string]any) (int, any) {
		if name, _ := in["name"].(string); strings.EqualFold(name, "WEB1") {
			return 409, map[string]string{"code": "conflict", "message": `A device named "WEB1" already exists in this organization (names are unique ignoring case); choose another name, or rename or delete that device first.`}
		}
		if name, _ := in["name"].(string); strings.ContainsRune(name, '\u202e') {
			return 400, map[string]string{"code": "bad-request", "message": "The request is invalid: name has a right-to-left override (U+202E) at character 3; only printable characters are allowed"}
		}
		for _, d := range f.devices {
			if _, tags := in["amt_tags"]; tags && d["id"] == r.PathValue("id") && d["kind"] != "gateway" {
				return 400, map[string]string{"code": "bad-request", "message": fmt.Sprintf("Device %q is not a gateway, and only a gateway has AMT tags (the MPS tags of the machines it adopts); leave the tags out, or give them to a gateway.", d["name"])}
			}
			if d["id"] == r.PathValue("id") {
				out := map[string]any{}
				for k, v := range d {
					out[k] = v
				}
				for k, v := range in {
					out[k] = v
				}
				return 200, out
			}
		}
		return 404, map[string]string{"code": "not-found", "message": "Not found in your organization."}
	})
	route("POST /api/v1/devices/{id}/enrollment-tokens", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 201, map[string]any{"token": "enr_t0ken's", "device_id": r.PathValue("id"), "expires_at": tExpires}
	})
	route("POST /api/v1/devices/{id}/sessions", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 201, map[string]any{"session": map[string]any{"id": "s3", "device_id": r.PathValue("id"), "desired": "ACTIVE", "current": "REQUESTED",
			"created_at": tCreated, "updated_at": tCreated, "expires_at": tExpires}, "console_url": "https://relay.test/console/s3#k=secret", "console_url_expires_at": tExpires,
			"grant": "view"}
	})
	route("GET /api/v1/devices/{id}/sessions", true, func(r *http.Request, _ map[string]any) (int, any) {
		s := f.sessions[r.PathValue("id")]
		if s == nil {
			s = []map[string]any{}
		}
		return 200, map[string]any{"sessions": s}
	})
	route("DELETE /api/v1/devices/{id}/sessions", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 200, map[string]any{"stopped": len(f.sessions[r.PathValue("id")]) / 2}
	})
	// The machine shows 246810; anything else is refused as the relay words it.
	route("POST /api/v1/devices/{id}/sessions/{sid}/consent", true, func(r *http.Request, in map[string]any) (int, any) {
		if in["code"] != "246810" {
			return 422, map[string]string{"code": "consent-refused", "message": "The machine refused the code (wrong code); check the code on its screen and try again until 12:05:00 UTC."}
		}
		return 200, map[string]any{"state": "accepted", "attempts": 2}
	})
	route("DELETE /api/v1/devices/{id}/sessions/{sid}/consent", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 200, map[string]any{"state": "cancelled"}
	})
	// Share links of session s2: a member link and a revoked guest link; s9 is not the
	// caller's (403), a guest link needs guest links (off).
	route("POST /api/v1/sessions/{id}/shares", true, func(r *http.Request, in map[string]any) (int, any) {
		if r.PathValue("id") == "s9" {
			return 403, map[string]string{"code": "forbidden", "message": "Only the console's own person or an admin may manage its share links."}
		}
		out := map[string]any{"id": "sh1", "kind": in["kind"], "session": r.PathValue("id"), "device": "d0000000-0000-4000-8000-000000000001",
			"device_name": "web1", "link": "https://relay.test/console/#share=kvms_tok", "expires_at": nil, "created_by": "user:u1",
			"created_by_name": "ops@acme.test", "created_at": tCreated}
		if in["kind"] == "guest" {
			if ttl, _ := in["ttl_seconds"].(float64); ttl != 0 && ttl != 1800 {
				return 400, map[string]string{"code": "bad-request", "message": "A guest link lasts from 300 seconds (5 min) to 86400 seconds (24 h)."}
			}
			out["link"], out["expires_at"] = "https://relay.test/console/#guest=kvms_gtok", tExpires
		}
		return 201, out
	})
	route("GET /api/v1/sessions/{id}/shares", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 200, map[string]any{"shares": []map[string]any{
			{"id": "sh2", "kind": "guest", "session": r.PathValue("id"), "expires_at": tExpires, "created_by": "user:u1", "created_by_name": "ops@acme.test",
				"created_at": tCreated, "joined": 0, "revoked_at": tCreated, "live": false},
			{"id": "sh1", "kind": "member", "session": r.PathValue("id"), "expires_at": nil, "created_by": "user:u1", "created_by_name": "ops@acme.test",
				"created_at": tCreated, "joined": 2, "live": true},
		}}
	})
	route("DELETE /api/v1/sessions/{id}/shares/{share}", true, func(r *http.Request, _ map[string]any) (int, any) {
		if r.PathValue("share") != "sh1" {
			return 404, map[string]string{"code": "not-found", "message": "This session has no such share link."}
		}
		return 204, nil
	})
	route("GET /api/v1/users", true, func(*http.Request, map[string]any) (int, any) {
		return 200, map[string]any{"users": []map[string]any{{"id": "u1", "email": "ops@acme.test", "role": "admin", "disabled": false, "mfa": true, "scope": map[string]string{"env": "prod"}, "created_at": tCreated}}}
	})
	route("POST /api/v1/users/invitations", true, func(_ *http.Request, in map[string]any) (int, any) {
		link := "https://relay.test/invite#tok"
		if in["email"] == "mailed@acme.test" {
			link = ""
		}
		return 201, map[string]any{"invitation": map[string]any{"id": "i1", "email": in["email"], "role": in["role"], "expires_at": tExpires}, "link": link}
	})
	route("GET /api/v1/api-keys", true, func(*http.Request, map[string]any) (int, any) {
		return 200, map[string]any{"api_keys": []map[string]any{{"id": "k1", "name": "ci", "prefix": "kvm_ak_ab", "role": "operator", "scope": map[string]string{}, "created_at": tCreated}}}
	})
	route("POST /api/v1/api-keys", true, func(_ *http.Request, in map[string]any) (int, any) {
		return 201, map[string]any{"key": "kvm_ak_SECRET", "api_key": map[string]any{"id": "k2", "name": in["name"], "prefix": "kvm_ak_SE", "role": in["role"], "scope": in["scope"], "created_at": tCreated}}
	})
	route("DELETE /api/v1/api-keys/{id}", true, func(*http.Request, map[string]any) (int, any) { return 204, nil })
	route("GET /api/v1/audit", true, func(r *http.Request, _ map[string]any) (int, any) {
		after, _ := strconv.Atoi(r.URL.Query().Get("after"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		page := []map[string]any{}
		for _, e := range f.audit {
			if e["seq"].(int) > after && len(page) < limit {
				page = append(page, e)
				after = e["seq"].(int)
			}
		}
		return 200, map[string]any{"entries": page, "next_after": after}
	})
	route("GET /api/v1/audit/verify", true, func(r *http.Request, _ map[string]any) (int, any) {
		if f.broken != 0 {
			return 200, map[string]any{"ok": false, "broken_seq": f.broken, "reason": "hash does not match the row"}
		}
		// The chain's entries are h1…hN; a witness beyond N or with another hash is missing.
		witness := "none"
		if ws := r.URL.Query().Get("witness_seq"); ws != "" {
			seq, _ := strconv.Atoi(ws)
			witness = "ok"
			if seq > len(f.audit) || r.URL.Query().Get("witness_hash") != fmt.Sprintf("h%d", seq) {
				return 200, map[string]any{"ok": false, "entries": len(f.audit), "broken_seq": len(f.audit) + 1,
					"reason": "the chain ends before the witness", "witness": "missing", "head_seq": len(f.audit), "head_hash": fmt.Sprintf("h%d", len(f.audit))}
			}
		}
		return 200, map[string]any{"ok": true, "entries": len(f.audit), "head_seq": len(f.audit), "head_hash": fmt.Sprintf("h%d", len(f.audit)), "witness": witness}
	})
	route("POST /api/v1/me/password", true, func(_ *http.Request, in map[string]any) (int, any) {
		if in["current_password"] != " hunter2 " {
			return 403, map[string]string{"code": "forbidden", "message": "The current password is wrong; nothing was changed."}
		}
		return 200, map[string]any{"token_type": "Bearer", "access_token": fakeAccess, "access_expires_at": tExpires,
			"refresh_token": "refresh-2", "refresh_expires_at": tExpires}
	})
	route("POST /api/v1/password-resets/accept", false, func(_ *http.Request, in map[string]any) (int, any) {
		if in["token"] != "kvmp_tok" {
			return 401, map[string]string{"code": "invalid-token", "message": "The token is invalid, used or expired."}
		}
		return 200, map[string]any{"id": "u1", "email": "ops@acme.test", "role": "admin", "org_slug": "acme", "org_name": "ACME"}
	})
	route("POST /api/v1/users/{id}/password-reset", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 201, map[string]any{"link": "https://relay.test/console/#reset=kvmp_tok", "user_id": r.PathValue("id"), "expires_at": tExpires}
	})
	route("POST /api/v1/users/{id}/disable", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 200, map[string]any{"user": map[string]any{"id": r.PathValue("id"), "email": "ops@acme.test", "disabled": true}, "sessions_stopped": 2}
	})
	route("POST /api/v1/users/{id}/enable", true, func(r *http.Request, _ map[string]any) (int, any) {
		return 200, map[string]any{"id": r.PathValue("id"), "email": "ops@acme.test", "disabled": false}
	})
	route("DELETE /api/v1/users/{id}/mfa", true, func(*http.Request, map[string]any) (int, any) { return 204, nil })
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func answer(w http.ResponseWriter, status int, v any) {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeRelay) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}
