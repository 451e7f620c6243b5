package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/denied"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/shares"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/asciifold"
)

// DeviceControl is what the relay does for a device beyond the store.
type DeviceControl interface {
	// DisconnectDevice cuts the device's live agent connections at once (on every node the
	// relay can reach); the API has already revoked it in the store.
	DisconnectDevice(ctx context.Context, deviceID string) error
}

// Config configures the API.
type Config struct {
	Store    store.Store
	Accounts *accounts.Service
	Sessions *sessions.Manager
	Devices  DeviceControl
	// EnrollmentTTL is how long a device enrollment token stays usable (default 24 h).
	EnrollmentTTL time.Duration
	// Denied audits refused requests (403, cross-tenant or out-of-scope 404) within a budget
	// per principal; the relay shares one with signaling. Nil: the API makes its own.
	Denied *denied.Auditor
	// Presence tells whether an active session's console is connected right now, on any node;
	// nil leaves console_connected out of session answers.
	Presence ConsolePresence
	// Consent reaches agents with consent codes (the consent routes); nil answers 503.
	Consent ConsentRelay
	// Shares creates, lists and revokes share links and lets people join through them (the
	// share routes); nil answers 503.
	Shares *shares.Service
	// Recordings lists, plays, exports and verifies session recordings (the recording
	// routes); nil answers 503.
	Recordings *recordings.Service
	Now        func() time.Time
	Logger     *slog.Logger
}

// ConsolePresence tells whether a console session's console is connected right now, on any
// relay node (signaling's registry of live consoles). An active session whose console is not
// connected is waiting, within the reconnect grace, for it to come back.
type ConsolePresence interface {
	ConsoleConnected(ctx context.Context, sid string) (bool, error)
}

// API serves /api/v1.
type API struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	devices *device.Service
}

// New makes the API.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil || cfg.Accounts == nil || cfg.Sessions == nil || cfg.Devices == nil {
		return nil, errors.New("api: store, accounts, sessions and device control are required")
	}
	if cfg.EnrollmentTTL <= 0 {
		cfg.EnrollmentTTL = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Denied == nil {
		cfg.Denied = denied.New(denied.Config{Store: cfg.Store, Logger: cfg.Logger, Now: cfg.Now})
	}
	devices, err := device.NewService(device.ServiceConfig{Store: cfg.Store, Sessions: cfg.Sessions, Agents: cfg.Devices,
		EnrollmentTTL: cfg.EnrollmentTTL, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return &API{cfg: cfg, log: cfg.Logger, now: cfg.Now, devices: devices}, nil
}

// Route is one documented endpoint.
type Route struct {
	Method, Path string // Path in fiber syntax: /devices/:id
	// Action the principal needs; 0 for public routes (login, refresh, accept invitation) and
	// for routes any authenticated principal may call.
	Action accounts.Action
	Public bool
	// Enrollment marks the routes a session restricted to enrolling MFA may call (its
	// organization requires MFA and the user has none yet): who am I, TOTP enrollment and
	// the password. Everything else answers 403 mfa-enrollment-required.
	Enrollment bool
	// Narrows marks a change that may take a right away (a key revoked, a role lowered, a
	// scope or labels changed, a user disabled, a device revoked): once it succeeds, live
	// console sessions are re-authorized (see reauthorizeAfter).
	Narrows bool
	// Console marks the routes a console calls with its console token (Authorization: Bearer
	// <console token>) instead of an API bearer: its own session's share links.
	Console bool
	handle  fiber.Handler
}

// Routes lists every endpoint under /api/v1.
func (a *API) Routes() []Route {
	return []Route{
		{Method: "POST", Path: "/auth/login", Public: true, handle: a.login},
		{Method: "POST", Path: "/auth/refresh", Public: true, handle: a.refresh},
		{Method: "POST", Path: "/auth/logout", Public: true, handle: a.logout},
		{Method: "POST", Path: "/invitations/accept", Public: true, handle: a.acceptInvite},
		{Method: "POST", Path: "/password-resets/accept", Public: true, handle: a.acceptPasswordReset},
		{Method: "GET", Path: "/openapi.json", Public: true, handle: serveOpenAPI},

		{Method: "GET", Path: "/me", Enrollment: true, handle: a.me},
		{Method: "POST", Path: "/me/totp", Enrollment: true, handle: a.beginTOTP},
		{Method: "POST", Path: "/me/totp/confirm", Enrollment: true, handle: a.confirmTOTP},
		{Method: "DELETE", Path: "/me/totp", handle: a.disableTOTP},
		{Method: "POST", Path: "/me/totp/recovery-codes", handle: a.regenerateRecoveryCodes},
		{Method: "POST", Path: mePasswordPath, Enrollment: true, handle: a.changePassword},

		{Method: "GET", Path: "/org", Enrollment: true, handle: a.getOrg},
		{Method: "PATCH", Path: "/org/settings", Action: accounts.ManageOrg, Narrows: true, handle: a.patchSettings},

		{Method: "GET", Path: "/users", Action: accounts.ManageUsers, handle: a.listUsers},
		{Method: "PATCH", Path: "/users/:id", Action: accounts.ManageUsers, Narrows: true, handle: a.patchUser},
		{Method: "POST", Path: "/users/:id/password-reset", Action: accounts.ManageUsers, handle: a.issuePasswordReset},
		{Method: "POST", Path: "/users/:id/disable", Action: accounts.ManageUsers, Narrows: true, handle: a.disableUser},
		{Method: "POST", Path: "/users/:id/enable", Action: accounts.ManageUsers, handle: a.enableUser},
		{Method: "DELETE", Path: "/users/:id/mfa", Action: accounts.ManageUsers, handle: a.resetMFA},
		{Method: "GET", Path: "/users/invitations", Action: accounts.ManageUsers, handle: a.listInvites},
		{Method: "POST", Path: "/users/invitations", Action: accounts.ManageUsers, handle: a.invite},

		{Method: "GET", Path: "/api-keys", Action: accounts.ManageAPIKeys, handle: a.listAPIKeys},
		{Method: "POST", Path: "/api-keys", Action: accounts.ManageAPIKeys, handle: a.createAPIKey},
		{Method: "DELETE", Path: "/api-keys/:id", Action: accounts.ManageAPIKeys, Narrows: true, handle: a.revokeAPIKey},

		{Method: "GET", Path: "/devices", Action: accounts.ReadDevices, handle: a.listDevices},
		{Method: "POST", Path: "/devices", Action: accounts.ManageDevices, handle: a.createDevice},
		{Method: "GET", Path: "/devices/:id", Action: accounts.ReadDevices, handle: a.getDevice},
		{Method: "PATCH", Path: "/devices/:id", Action: accounts.ManageDevices, Narrows: true, handle: a.patchDevice},
		{Method: "DELETE", Path: "/devices/:id", Action: accounts.ManageDevices, Narrows: true, handle: a.removeDevice},
		{Method: "POST", Path: "/devices/:id/enrollment-tokens", Action: accounts.ManageDevices, handle: a.enrollmentToken},
		{Method: "POST", Path: "/devices/:id/sessions", Action: accounts.ConsoleView, handle: a.startSession},
		{Method: "GET", Path: "/devices/:id/sessions", Action: accounts.ReadDevices, handle: a.listSessions},
		{Method: "DELETE", Path: "/devices/:id/sessions", Action: accounts.ConsoleView, handle: a.stopDeviceSessions},
		{Method: "GET", Path: "/devices/:id/sessions/:sid/consent", Action: accounts.ConsoleControl, handle: a.getConsent},
		{Method: "POST", Path: "/devices/:id/sessions/:sid/consent", Action: accounts.ConsoleControl, handle: a.submitConsent},
		{Method: "DELETE", Path: "/devices/:id/sessions/:sid/consent", Action: accounts.ConsoleControl, handle: a.cancelConsent},
		{Method: "GET", Path: "/sessions/:id", Action: accounts.ReadDevices, handle: a.getSession},
		{Method: "DELETE", Path: "/sessions/:id", Action: accounts.ConsoleView, handle: a.stopSession},
		// Share links: the service decides who (the session's person, or an admin).
		{Method: "POST", Path: "/sessions/:id/shares", handle: a.createSessionShare},
		{Method: "GET", Path: "/sessions/:id/shares", handle: a.listSessionShares},
		{Method: "DELETE", Path: "/sessions/:id/shares/:share", handle: a.revokeSessionShare},
		{Method: "POST", Path: "/console/shares", Console: true, handle: a.createConsoleShare},
		{Method: "GET", Path: "/console/shares", Console: true, handle: a.listConsoleShares},
		{Method: "DELETE", Path: "/console/shares/:id", Console: true, handle: a.revokeConsoleShare},
		// Any member of the organization, whatever their role.
		{Method: "POST", Path: "/shares/join", handle: a.joinShare},
		{Method: "POST", Path: "/guest/join", Public: true, handle: a.joinAsGuest},

		{Method: "GET", Path: "/audit", Action: accounts.ReadAudit, handle: a.listAudit},
		{Method: "GET", Path: "/audit/export", Action: accounts.ReadAudit, handle: a.exportAudit},
		{Method: "GET", Path: "/audit/verify", Action: accounts.ReadAudit, handle: a.verifyAudit},

		{Method: "GET", Path: "/recordings", Action: accounts.ReadRecordings, handle: a.listRecordings},
		{Method: "GET", Path: "/recordings/:id", Action: accounts.ReadRecordings, handle: a.getRecording},
		{Method: "GET", Path: "/recordings/:id/video", Action: accounts.ReadRecordings, handle: a.recordingVideo},
		{Method: "GET", Path: "/recordings/:id/timeline", Action: accounts.ReadRecordings, handle: a.recordingTimeline},
		{Method: "POST", Path: "/recordings/:id/verify", Action: accounts.ReadRecordings, handle: a.verifyRecording},
	}
}

// Mount registers every route on r (the /api/v1 group).
func (a *API) Mount(r fiber.Router) {
	for _, rt := range a.Routes() {
		h := rt.handle
		if rt.Narrows {
			h = a.reauthorizeAfter(h)
		}
		switch {
		case rt.Console:
			h = a.consoleAuthenticated(h)
		case !rt.Public:
			h = a.authenticated(rt, h)
		}
		r.Add(rt.Method, rt.Path, h)
	}
}

const localsPrincipal = "kvmrelay.principal"

// authenticated checks the bearer (access token, API key or OIDC token), the route's action,
// and that a session restricted to enrolling MFA stays on the routes that do it.
func (a *API) authenticated(rt Route, next fiber.Handler) fiber.Handler {
	action := rt.Action
	return func(c *fiber.Ctx) error {
		bearer, ok := bearerOf(c)
		if !ok {
			return fail(c, fiber.StatusUnauthorized, CodeUnauthorized, "Log in first: send Authorization: Bearer <access token or API key>.")
		}
		p, err := a.cfg.Accounts.Authenticate(c.UserContext(), bearer)
		if err != nil {
			if errors.Is(err, accounts.ErrRateLimited) {
				return a.failErr(c, err)
			}
			a.log.Info("api bearer refused", "remote", c.IP(), "path", c.Path(), "err", err)
			return fail(c, fiber.StatusUnauthorized, CodeUnauthorized, "The access token or API key is invalid or expired; log in again (kvmctl login).")
		}
		c.Locals(localsPrincipal, p)
		if p.MFAEnrollmentRequired && !rt.Enrollment {
			err = fail(c, fiber.StatusForbidden, CodeMFAEnrollmentRequired, mfaEnrollmentMessage)
		} else if action != 0 && !p.Can(action) {
			err = fail(c, fiber.StatusForbidden, CodeForbidden, "Your role ("+string(p.Role)+") does not allow "+action.String()+".")
		} else {
			err = next(c)
		}
		a.auditRefusal(c, p)
		return err
	}
}

func principalOf(c *fiber.Ctx) accounts.Principal {
	p, _ := c.Locals(localsPrincipal).(accounts.Principal)
	return p
}

func bearerOf(c *fiber.Ctx) (string, bool) {
	h := c.Get(fiber.HeaderAuthorization)
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !asciifold.Equal(h[:len(prefix)], prefix) {
		return "", false
	}
	return h[len(prefix):], true
}

// body parses a JSON request body into v, answering 400 itself when it cannot.
func body(c *fiber.Ctx, v any) bool {
	if err := c.BodyParser(v); err != nil {
		_ = fail(c, fiber.StatusBadRequest, CodeBadRequest, "Send a JSON body (Content-Type: application/json) as documented in /api/v1/openapi.json.")
		return false
	}
	return true
}
