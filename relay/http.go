package relay

import (
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/internal/clientaddr"
	"github.com/kvmrelay/kvmrelay/internal/netguard"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
	"github.com/kvmrelay/kvmrelay/web"
)

// consoleCSP allows only the console's own files: no inline script or style, so hostile text
// that slips into the page (an agent's hostname, say) cannot run. connect-src 'self' covers
// the relay's own ws:/wss: (CSP Level 3 matches the WebSocket schemes of the page's origin),
// so the page can open no socket to another host, whatever else signaling would admit.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// apiError is every JSON error body: a stable code and a message that says what to do next.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *Relay) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		AppName:               "kvmrelay",
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		BodyLimit:             64 << 10,
		ErrorHandler:          r.errorHandler,
		// c.IP() answers with what clientaddr resolved (its middleware runs first).
		ProxyHeader: clientaddr.Header,
	})
	app.Use(clientaddr.New(r.cfg.TrustedProxies).Middleware())
	app.Use(recover.New())
	app.Use(securityHeaders)
	app.Use(trustUpgraded)

	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(r.health(c.UserContext()))
	})
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(r.metrics, promhttp.HandlerOpts{})))
	// The dashboard (sign in, devices) at the root; its files live beside the console's.
	app.Get("/", func(c *fiber.Ctx) error {
		page, err := fs.ReadFile(web.Assets(), "dashboard.html")
		if err != nil {
			return err
		}
		c.Type("html", "utf-8")
		return c.Send(page)
	})
	app.Get("/favicon.ico", func(c *fiber.Ctx) error { return c.Redirect("/console/img/icon.svg", fiber.StatusMovedPermanently) })
	app.Use("/console", filesystem.New(filesystem.Config{
		Root:         http.FS(web.Assets()),
		Index:        "index.html",
		NotFoundFile: "index.html",
		MaxAge:       0,
	}))

	api := app.Group("/api/v1")
	api.Get("/console/status", r.consoleStatus)
	api.Post("/console/redeem", limiter.New(limiter.Config{
		Max:        r.cfg.RedeemPerMinute,
		Expiration: time.Minute,
		Storage:    newRateStore(),
		LimitReached: func(c *fiber.Ctx) error {
			return c.Status(fiber.StatusTooManyRequests).JSON(apiError{Code: "rate-limited", Message: "Too many console links redeemed from this address; wait a minute and try again."})
		},
	}), r.redeem)
	// Guests join without an account: bounded per client address like console links, before
	// the route itself (mounted with the API).
	api.Use("/guest/join", limiter.New(limiter.Config{
		Max:        r.cfg.GuestJoinPerMinute,
		Expiration: time.Minute,
		Storage:    newRateStore(),
		LimitReached: func(c *fiber.Ctx) error {
			return c.Status(fiber.StatusTooManyRequests).JSON(apiError{Code: "rate-limited", Message: "Too many guests joined from this address; wait a minute and try again."})
		},
	}))
	r.control.api.Mount(api)
	r.mountDevices(api)

	r.sig.Mount(app)
	return app
}

// trustUpgraded exempts a connection from the connection guard's eviction once it carries an
// authenticated WebSocket (signaling refuses the upgrade otherwise): under a flood of idle
// connections, connected agents and consoles keep theirs.
func trustUpgraded(c *fiber.Ctx) error {
	err := c.Next()
	if c.Response().StatusCode() == fiber.StatusSwitchingProtocols {
		netguard.Trust(c.Context().Conn())
	}
	return err
}

// securityHeaders sets the headers every response carries.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", consoleCSP)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Cache-Control", "no-store")
	return c.Next()
}

// errorHandler answers with JSON and a safe message; internal error text stays in the log.
func (r *Relay) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	msg := "Internal error; the relay logged the details."
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, msg = fe.Code, fe.Message
	} else {
		r.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	return c.Status(code).JSON(apiError{Code: http.StatusText(code), Message: msg})
}

type redeemRequest struct {
	Code string `json:"code"`
}

type redeemResponse struct {
	Token     string    `json:"token"`
	Device    string    `json:"device"`
	Session   string    `json:"session"`
	ExpiresAt time.Time `json:"expires_at"`
	// DeviceName and PrincipalName name the device and the person for the console's toolbar
	// (plain text; a device name may come from anyone who may rename it).
	DeviceName    string `json:"device_name"`
	PrincipalName string `json:"principal_name"`
	// Grant is what the console may do on the machine (view, control, admin) as its link
	// said; the relay derives it again when the console connects.
	Grant wire.Grant `json:"grant"`
}

// linkUsedMessage answers a console link opened a second time, on this node or another.
const linkUsedMessage = "This console link was already used: each link opens one console once. Start a new console " +
	"(the Open console button, or kvmctl console start DEVICE; on a single-operator relay, kvmrelay token console --device NAME)."

// redeem turns a one-time console login into a console token for a new session.
func (r *Relay) redeem(c *fiber.Ctx) error {
	var req redeemRequest
	if err := c.BodyParser(&req); err != nil || req.Code == "" {
		return c.Status(fiber.StatusBadRequest).JSON(apiError{Code: "bad-request", Message: `Send {"code":"…"} with the code from your console link.`})
	}
	login, err := r.onetime.Redeem(r.issuer, req.Code)
	switch {
	case errors.Is(err, auth.ErrAlreadyUsed):
		return c.Status(fiber.StatusUnauthorized).JSON(apiError{Code: "link-used", Message: linkUsedMessage})
	case err != nil:
		r.log.Warn("console link refused", "remote", c.IP(), "err", err)
		return c.Status(fiber.StatusUnauthorized).JSON(apiError{Code: "link-invalid", Message: "This console link is invalid or expired. Ask for a new one (kvmrelay token console --device NAME)."})
	}
	if err := r.spendConsoleLink(c.UserContext(), login); errors.Is(err, errSpent) {
		return c.Status(fiber.StatusUnauthorized).JSON(apiError{Code: "link-used", Message: linkUsedMessage})
	} else if err != nil {
		r.log.Error("console link: cannot record it as used", "remote", c.IP(), "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(apiError{Code: "unavailable", Message: "The relay cannot reach its database right now; try the link again in a moment."})
	}
	sid := auth.NewID("s_")
	if login.Tenant != "" {
		// A console link from POST /api/v1/devices/{id}/sessions opens exactly its stored
		// session, and only while that session is live.
		if err := r.control.sessions.Redeemable(c.UserContext(), login); err != nil {
			r.log.Warn("console link refused: session", "remote", c.IP(), "sid", login.Session, "err", err)
			status, body := sessionRefusal(err)
			return c.Status(status).JSON(body)
		}
		sid = login.Session
	}
	tok, claims, err := r.issuer.Mint(auth.Claims{
		Subject:  login.Subject,
		Audience: auth.AudienceConsole,
		Device:   login.Device,
		Agent:    login.Agent, // a gateway serving the device, and the machine on it
		Target:   login.Target,
		Tenant:   login.Tenant,
		Session:  sid,
		Grant:    tokenGrant(login),
	}, r.cfg.ConsoleTokenTTL)
	if err != nil {
		return err
	}
	r.log.Info("console link redeemed", "device", login.Device, "principal", login.Subject, "sid", claims.Session, "remote", c.IP())
	out := redeemResponse{Token: tok, Device: claims.Device, Session: claims.Session, ExpiresAt: claims.ExpiresAt,
		DeviceName: claims.Device, PrincipalName: claims.Subject, Grant: claims.Grant}
	if login.Tenant != "" {
		if dn, pn, err := r.control.sessions.Describe(c.UserContext(), login.Tenant, sid); err == nil {
			out.DeviceName, out.PrincipalName = dn, pn
		}
	}
	return c.JSON(out)
}
