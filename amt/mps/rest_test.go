package mps_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
)

func TestREST(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(map[bool]string{false: "https", true: "http"}[plain], func(t *testing.T) {
			e := newEnv(t, envOpts{plain: plain, fake: func(c *fakemps.Config) { c.RequireBearer = true }})
			ctx := ctxT(t)
			c := e.client

			d, err := c.Device(ctx, strings.ToUpper(guid)) // the client lowercases
			require.NoError(t, err)
			assert.Equal(t, mps.Device{GUID: guid, Hostname: "amt-1", FriendlyName: "Lab PC", Tags: []string{"lab"},
				ConnectionStatus: true, MPSInstance: "fakemps", MPSUsername: "cira"}, d)
			_, err = c.Device(ctx, unknown)
			assert.ErrorIs(t, err, mps.ErrNotFound)

			tok, err := c.RedirectionToken(ctx, guid)
			require.NoError(t, err)
			assert.Equal(t, 2, strings.Count(tok, "."), "a JWT")
			_, err = c.RedirectionToken(ctx, unknown)
			assert.ErrorIs(t, err, mps.ErrNotFound)

			st, err := c.RedirectStatus(ctx, guid)
			require.NoError(t, err)
			assert.Equal(t, mps.RedirectStatus{}, st)

			f, err := c.Features(ctx, guid)
			require.NoError(t, err)
			assert.Equal(t, mps.Features{UserConsent: "kvm", Redirection: true, KVM: true, KVMAvailable: true}, f)

			p, err := c.PowerState(ctx, guid)
			require.NoError(t, err)
			assert.Equal(t, mps.PowerOn, p)
			require.NoError(t, c.PowerAction(ctx, guid, mps.PowerOffSoft))
			assert.Equal(t, mps.PowerOffSoft, e.dev.Mgmt.LastPowerAction())
			p, err = c.PowerState(ctx, guid)
			require.NoError(t, err)
			assert.Equal(t, mps.PowerOffSoft, p)
			err = c.PowerAction(ctx, guid, 3) // MemManagement refuses sleep: INVALID_PARAMETER
			var ae *mps.AMTError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 0x24, ae.ReturnValue)
			assert.Equal(t, "INVALID_PARAMETER", ae.Name)
			assert.NotErrorIs(t, err, mps.ErrConsent)
			var se *mps.StatusError
			require.ErrorAs(t, c.PowerAction(ctx, guid, 1), &se, "MPS's validator refuses action 1")
			assert.Equal(t, http.StatusBadRequest, se.Status)

			ds, err := c.Displays(ctx, guid)
			require.NoError(t, err)
			assert.Equal(t, []mps.Display{{Index: 0, Active: true, ResolutionX: 1024, ResolutionY: 768, Default: true, Role: "primary"}}, ds)
			e.dev.Mgmt.SetDisplays([]fakemps.Display{{Index: 0, Active: true, Default: true}, {Index: 1, Active: true, UpperLeftX: 1920, ResolutionX: 1280, ResolutionY: 1024}})
			require.NoError(t, c.SetDisplay(ctx, guid, 1))
			ds, err = c.Displays(ctx, guid)
			require.NoError(t, err)
			require.Len(t, ds, 2)
			assert.False(t, ds[0].Default)
			assert.Equal(t, mps.Display{Index: 1, Active: true, UpperLeftX: 1920, ResolutionX: 1280, ResolutionY: 1024, Default: true}, ds[1])
			require.ErrorAs(t, c.SetDisplay(ctx, guid, 7), &se)
			assert.Equal(t, http.StatusInternalServerError, se.Status)
		})
	}
}

func TestConsent(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t)
	c := e.client

	step, err := c.StartConsent(ctx, guid)
	require.NoError(t, err)
	assert.Equal(t, mps.ConsentCodeDisplayed, step)
	code := e.dev.Mgmt.Code()
	require.NotZero(t, code)

	// A code on screen is reused, not requested again (a new request would change it).
	step, err = c.StartConsent(ctx, guid)
	require.NoError(t, err)
	assert.Equal(t, mps.ConsentCodeDisplayed, step)
	assert.Equal(t, code, e.dev.Mgmt.Code())

	wrong := code%999999 + 1
	err = c.SubmitConsentCode(ctx, guid, wrong)
	require.ErrorIs(t, err, mps.ErrConsent)
	var ae *mps.AMTError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 2, ae.ReturnValue)

	require.NoError(t, c.SubmitConsentCode(ctx, guid, code))
	f, err := c.Features(ctx, guid)
	require.NoError(t, err)
	assert.Equal(t, mps.OptInReceived, f.OptInState)

	// Consent given: no request (MemManagement would refuse one in state 3).
	step, err = c.StartConsent(ctx, guid)
	require.NoError(t, err)
	assert.Equal(t, mps.ConsentGranted, step)
	err = c.RequestConsentCode(ctx, guid)
	require.ErrorAs(t, err, &ae)
	assert.NotErrorIs(t, err, mps.ErrConsent)

	require.NoError(t, c.CancelConsent(ctx, guid))
	f, err = c.Features(ctx, guid)
	require.NoError(t, err)
	assert.Equal(t, mps.OptInNotStarted, f.OptInState)

	e.dev.Mgmt.SetFeatures(fakemps.Features{OptInRequired: fakemps.OptInNone, KVM: true})
	step, err = c.StartConsent(ctx, guid)
	require.NoError(t, err)
	assert.Equal(t, mps.ConsentNotRequired, step)

	assert.Error(t, c.SubmitConsentCode(ctx, guid, 1234567), "seven digits")
}

func TestNotConnected(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t)
	c := e.client
	calls := map[string]func() error{
		"RedirectStatus": func() error { _, err := c.RedirectStatus(ctx, offline); return err },
		"Features":       func() error { _, err := c.Features(ctx, offline); return err },
		"PowerState":     func() error { _, err := c.PowerState(ctx, offline); return err },
		"PowerAction":    func() error { return c.PowerAction(ctx, offline, mps.PowerOn) },
		"Request":        func() error { return c.RequestConsentCode(ctx, offline) },
		"Submit":         func() error { return c.SubmitConsentCode(ctx, offline, 123456) },
		"Cancel":         func() error { return c.CancelConsent(ctx, offline) },
		"Displays":       func() error { _, err := c.Displays(ctx, offline); return err },
		"SetDisplay":     func() error { return c.SetDisplay(ctx, offline, 0) },
		"DialKVM":        func() error { _, err := c.DialKVM(ctx, offline); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { assert.ErrorIs(t, call(), mps.ErrNotConnected) })
	}
	// The record is still there, marked disconnected.
	d, err := c.Device(ctx, offline)
	require.NoError(t, err)
	assert.False(t, d.ConnectionStatus)
	assert.Empty(t, d.MPSInstance)
}

func TestDevicesPaging(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := range 150 {
		e.devs.Add(fakemps.DeviceInfo{GUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Hostname: fmt.Sprint("h", i)})
	}
	ds, err := e.client.Devices(ctxT(t))
	require.NoError(t, err)
	require.Len(t, ds, 152)
	seen := map[string]bool{}
	for _, d := range ds {
		seen[d.GUID] = true
	}
	assert.Len(t, seen, 152)
	assert.True(t, seen[guid] && seen[offline])
}

func TestLoginFailure(t *testing.T) {
	e := newEnv(t, envOpts{password: "wrong"})
	ctx := ctxT(t)
	require.ErrorIs(t, e.client.Login(ctx), mps.ErrUnauthorized)
	_, err := e.client.Features(ctx, guid)
	require.ErrorIs(t, err, mps.ErrUnauthorized)
	_, err = e.client.DialKVM(ctx, guid)
	require.ErrorIs(t, err, mps.ErrUnauthorized)
}

func TestInvalidGUID(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, err := e.client.Features(ctxT(t), "../../authorize")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a device GUID")
}

// countLogins wraps the fake and counts POST /api/v1/authorize.
func countLogins(n *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/authorize") {
				n.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestTokenRenewal(t *testing.T) {
	var logins atomic.Int32
	e := newEnv(t, envOpts{wrap: countLogins(&logins), fake: func(c *fakemps.Config) {
		c.RequireBearer = true
		c.LoginTTL = time.Hour
	}})
	ctx := ctxT(t)
	_, err := e.client.Features(ctx, guid)
	require.NoError(t, err)
	_, err = e.client.PowerState(ctx, guid)
	require.NoError(t, err)
	assert.EqualValues(t, 1, logins.Load(), "the token is cached")

	e.clock.Add(2 * time.Hour) // the gateway now refuses the token
	_, err = e.client.Features(ctx, guid)
	require.NoError(t, err)
	assert.EqualValues(t, 2, logins.Load(), "renewed once on 401")
}

func TestTokenRefusedAfterRenewal(t *testing.T) {
	var logins atomic.Int32
	refuseAll := func(h http.Handler) http.Handler {
		return countLogins(&logins)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/authorize") {
				h.ServeHTTP(w, r)
				return
			}
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		}))
	}
	e := newEnv(t, envOpts{wrap: refuseAll})
	_, err := e.client.Features(ctxT(t), guid)
	require.ErrorIs(t, err, mps.ErrUnauthorized)
	assert.EqualValues(t, 2, logins.Load(), "one login, one renewal, then give up")
}

func TestKongPaths(t *testing.T) {
	// Kong strips /mps from REST, serves login at /mps/login/api/v1/authorize and maps
	// /mps/ws/relay to /relay.
	kong := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := r.URL.Path
			switch {
			case p == "/mps/login/api/v1/authorize":
				p = "/api/v1/authorize"
			case strings.HasPrefix(p, "/mps/ws/relay/"):
				p = "/relay/" + strings.TrimPrefix(p, "/mps/ws/relay/")
			case strings.HasPrefix(p, "/mps/api/v1/") && !strings.HasSuffix(p, "/api/v1/authorize"):
				p = strings.TrimPrefix(p, "/mps")
			default:
				http.NotFound(w, r)
				return
			}
			r.URL.Path = p
			h.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, envOpts{wrap: kong, paths: mps.KongPaths(), fake: func(c *fakemps.Config) { c.RequireBearer = true }})
	_, err := e.client.Features(ctxT(t), guid)
	require.NoError(t, err)
	conn, devEnd := e.dial(t)
	_, err = devEnd.Write([]byte("ok"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	_, err = conn.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(buf))
}

func TestAMTErrorText(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &mps.AMTError{Op: "submit consent code", ReturnValue: 2066, Name: "UNSUPPORTED"})
	assert.True(t, errors.Is(err, mps.ErrConsent))
	assert.Equal(t, "wrapped: AMT refused to submit consent code: ReturnValue 2066 (UNSUPPORTED): this AMT does not support it", err.Error())
}
