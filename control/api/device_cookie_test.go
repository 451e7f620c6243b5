package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/accounts"
)

// TestDeviceCookie: a login sets the device cookie (HttpOnly, SameSite=Strict, auth routes
// only); shown at a later login from another address, it lets the owner in while the account
// refuses untrusted clients.
func TestDeviceCookie(t *testing.T) {
	app := oneAttemptApp(t)

	login := func(addr string, device *http.Cookie) *http.Response {
		b, err := json.Marshal(loginRequest{Org: "acme", Email: "owner@acme.example", Password: ownerPassword})
		require.NoError(t, err)
		req := httptest.NewRequest("POST", "/api/v1/auth/login", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Test-Client", addr)
		if device != nil {
			req.AddCookie(device)
		}
		resp, err := app.Test(req, 10_000)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	deviceCookie := func(resp *http.Response) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == DeviceCookie {
				return c
			}
		}
		return nil
	}

	first := login("192.0.2.1", nil)
	require.Equal(t, http.StatusOK, first.StatusCode)
	ck := deviceCookie(first)
	require.NotNil(t, ck, "a login sets the device cookie")
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.Equal(t, "/api/v1/auth", ck.Path)
	assert.Greater(t, time.Until(ck.Expires), 80*24*time.Hour)

	assert.Equal(t, http.StatusTooManyRequests, login("203.0.113.5", nil).StatusCode, "an untrusted client waits")
	assert.Equal(t, http.StatusTooManyRequests, login("203.0.113.6", &http.Cookie{Name: DeviceCookie, Value: "forged"}).StatusCode)
	assert.Equal(t, http.StatusOK, login("203.0.113.7", &http.Cookie{Name: DeviceCookie, Value: ck.Value}).StatusCode, "the device cookie lets the user in")
}

// TestDeviceTokenInBody: a client that is not the dashboard (kvmctl) gets the device token in
// the login answer and shows it in the body of its next login; the dashboard never sees it
// in JSON (its scripts must not read it).
func TestDeviceTokenInBody(t *testing.T) {
	app := oneAttemptApp(t)

	login := func(addr, device string, web bool) (int, tokensView) {
		b, err := json.Marshal(loginRequest{Org: "acme", Email: "owner@acme.example", Password: ownerPassword, DeviceToken: device})
		require.NoError(t, err)
		req := httptest.NewRequest("POST", "/api/v1/auth/login", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Test-Client", addr)
		if web {
			req.Header.Set(WebClientHeader, WebClientValue)
		}
		resp, err := app.Test(req, 10_000)
		require.NoError(t, err)
		defer resp.Body.Close()
		var v tokensView
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}

	status, first := login("192.0.2.1", "", false)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, first.DeviceToken, "kvmctl gets the device token in the answer")
	status, web := login("192.0.2.1", "", true)
	require.Equal(t, http.StatusOK, status, "the known address is trusted")
	assert.Empty(t, web.DeviceToken, "the dashboard's scripts never see it")

	status, _ = login("203.0.113.5", "", false)
	assert.Equal(t, http.StatusTooManyRequests, status, "an untrusted client waits")
	status, _ = login("203.0.113.6", "forged", false)
	assert.Equal(t, http.StatusTooManyRequests, status)
	status, _ = login("203.0.113.7", first.DeviceToken, true)
	assert.Equal(t, http.StatusTooManyRequests, status, "the dashboard shows the cookie, not a body token")
	status, _ = login("203.0.113.8", first.DeviceToken, false)
	assert.Equal(t, http.StatusOK, status, "the device token in the body lets kvmctl in")
}

// oneAttemptApp is the API for the owner of acme whose account allows one untrusted attempt
// an hour. app.Test connects from one address: this app takes each request's from a test
// header (the relay's takes it from internal/clientaddr the same way).
func oneAttemptApp(t *testing.T) *fiber.App {
	t.Helper()
	e := newEnvWith(t, func(c *accounts.Config) {
		c.RefreshGrace = -1
		c.Limits.LoginPerAccount = accounts.Limit{Every: time.Hour, Burst: 1}
	})
	a, err := New(Config{Store: e.st, Accounts: e.acc, Sessions: e.mgr, Devices: e.cut})
	require.NoError(t, err)
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ProxyHeader: "X-Test-Client"})
	a.Mount(app.Group("/api/v1"))
	_, _, err = e.acc.CreateOwner(context.Background(), "Acme", "acme", "owner@acme.example", ownerPassword)
	require.NoError(t, err)
	return app
}
