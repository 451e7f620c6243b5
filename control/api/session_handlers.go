package api

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

type startedView struct {
	Session             sessionView `json:"session"`
	ConsoleURL          string      `json:"console_url"`
	ConsoleURLExpiresAt time.Time   `json:"console_url_expires_at"`
	// Grant is what the console may do on the machine as its role allows now (view, control,
	// admin); the relay derives it again when the console connects and whenever a right
	// changes.
	Grant wire.Grant `json:"grant"`
}

// startSession opens a console for whoever may watch one (a viewer too): what it may do on
// the machine is its grant, from its role.
func (a *API) startSession(c *fiber.Ctx) error {
	p := principalOf(c)
	ctx := c.UserContext()
	id := c.Params("id")
	var grant wire.Grant
	err := a.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		d, err := a.deviceInScope(ctx, tx, p, id)
		if err != nil {
			return err
		}
		grant, err = p.GrantOn(d)
		return err
	})
	var re *accounts.RightError
	if errors.As(err, &re) {
		return fail(c, fiber.StatusForbidden, CodeForbidden, "You may not open a console on this device: "+re.Reason+".")
	}
	if err != nil {
		return a.failErr(c, err)
	}
	started, err := a.cfg.Sessions.Start(ctx, p.OrgID, p.String(), id, grant)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(startedView{Session: session(started.Session), ConsoleURL: started.ConsoleURL,
		ConsoleURLExpiresAt: started.URLExpiresAt, Grant: grant})
}

type sessionsList struct {
	Sessions []sessionView `json:"sessions"`
}

func (a *API) listSessions(c *fiber.Ctx) error {
	p := principalOf(c)
	ctx := c.UserContext()
	limit := c.QueryInt("limit", 50)
	out := sessionsList{Sessions: []sessionView{}}
	err := a.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		if _, err := a.deviceInScope(ctx, tx, p, c.Params("id")); err != nil {
			return err
		}
		var ss []store.ConsoleSession
		var err error
		if c.QueryBool("live") {
			// Every open session, however many: what the dashboard shows and may stop.
			ss, err = liveSessionsOf(ctx, tx, c.Params("id"))
		} else {
			ss, err = tx.SessionsForDevice(ctx, c.Params("id"), limit)
		}
		names := sessions.NewNames(tx)
		for _, s := range ss {
			out.Sessions = append(out.Sessions, namedSession(ctx, tx, names, s))
		}
		return err
	})
	if err != nil {
		return a.failErr(c, err)
	}
	a.withPresence(ctx, out.Sessions)
	return c.JSON(out)
}

// sessionFor reads a session the principal may see: on a device inside its scope.
func (a *API) sessionFor(c *fiber.Ctx, p accounts.Principal, id string) (store.ConsoleSession, error) {
	ctx := c.UserContext()
	var s store.ConsoleSession
	err := a.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		if s, err = tx.Session(ctx, id); err != nil {
			return err
		}
		_, err = a.deviceInScope(ctx, tx, p, s.DeviceID)
		return err
	})
	return s, err
}

func (a *API) getSession(c *fiber.Ctx) error {
	p := principalOf(c)
	s, err := a.sessionFor(c, p, c.Params("id"))
	if err != nil {
		return a.failErr(c, err)
	}
	v := session(s)
	_ = a.cfg.Store.Read(c.UserContext(), p.OrgID, func(tx store.Tx) error {
		v = namedSession(c.UserContext(), tx, sessions.NewNames(tx), s)
		return nil
	})
	one := []sessionView{v}
	a.withPresence(c.UserContext(), one)
	return c.JSON(one[0])
}

// mayStop: the session's own principal, or anyone who manages devices.
func mayStop(p accounts.Principal, s store.ConsoleSession) bool {
	return s.Principal == p.String() || p.Can(accounts.ManageDevices)
}

func (a *API) stopSession(c *fiber.Ctx) error {
	p := principalOf(c)
	s, err := a.sessionFor(c, p, c.Params("id"))
	if err != nil {
		return a.failErr(c, err)
	}
	if !mayStop(p, s) {
		return fail(c, fiber.StatusForbidden, CodeForbidden, "Only the session's owner or an admin may stop it.")
	}
	if _, err := a.cfg.Sessions.Stop(c.UserContext(), p.OrgID, s.ID, p.String(), "stopped by "+a.actorName(c.UserContext(), p)); err != nil {
		return a.failErr(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type stoppedView struct {
	Stopped int `json:"stopped"`
}

func (a *API) stopDeviceSessions(c *fiber.Ctx) error {
	p := principalOf(c)
	ctx := c.UserContext()
	id := c.Params("id")
	err := a.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		_, err := a.deviceInScope(ctx, tx, p, id)
		return err
	})
	if err != nil {
		return a.failErr(c, err)
	}
	n, err := a.cfg.Sessions.StopDevice(ctx, p.OrgID, id, p.String(), "stopped by "+a.actorName(ctx, p),
		func(s store.ConsoleSession) bool { return mayStop(p, s) })
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(stoppedView{Stopped: n})
}
