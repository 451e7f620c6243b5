package api

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/shares"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Share links (control/shares decides; these handlers only translate). A session's shares are
// managed with an API bearer (/sessions/{id}/shares: the session's person or an admin) or
// with the console's own token (/console/shares: the console page has no API login).

type shareRequest struct {
	Kind       store.ShareKind `json:"kind"`
	TTLSeconds int64           `json:"ttl_seconds"`
}

// shareView is a share without its token; Link is set only in the answer that creates it.
type shareView struct {
	ID            string          `json:"id"`
	Kind          store.ShareKind `json:"kind"`
	Session       string          `json:"session"`
	Device        string          `json:"device"`
	DeviceName    string          `json:"device_name"`
	Link          string          `json:"link,omitempty"`
	ExpiresAt     *time.Time      `json:"expires_at"`
	CreatedBy     string          `json:"created_by"`
	CreatedByName string          `json:"created_by_name"`
	CreatedAt     time.Time       `json:"created_at"`
}

// listedShareView is a share in a list: how many consoles joined through it are live, when
// it was revoked (null: not), and whether it still admits anyone.
type listedShareView struct {
	shareView
	Joined    int        `json:"joined"`
	RevokedAt *time.Time `json:"revoked_at"`
	Live      bool       `json:"live"`
}

type sharesList struct {
	Shares []listedShareView `json:"shares"`
}

func share(v shares.View) shareView {
	return shareView{ID: v.Share.ID, Kind: v.Share.Kind, Session: v.Share.SessionID, Device: v.DeviceID, DeviceName: v.DeviceName,
		ExpiresAt: v.Share.ExpiresAt, CreatedBy: v.Share.CreatedBy, CreatedByName: v.CreatedByName, CreatedAt: v.Share.CreatedAt}
}

func listedShare(v shares.View) listedShareView {
	return listedShareView{shareView: share(v), Joined: v.Joined, RevokedAt: v.Share.RevokedAt, Live: v.Live}
}

// apiShareCaller is an API principal managing a session's shares: an admin manages those of
// every session on a device in its scope; an OIDC subject's grant is its role's.
func apiShareCaller(p accounts.Principal) shares.Caller {
	return shares.Caller{
		Principal: p.String(),
		Fallback: func(d store.Device) wire.Grant {
			g, _ := p.GrantOn(d)
			return g
		},
		Admin: func(d store.Device) bool { return p.Can(accounts.ManageDevices) && p.SeesDevice(d.Labels) },
	}
}

// consoleShareCaller is a console managing its own session's shares with its token.
func consoleShareCaller(cc consoleCaller) shares.Caller {
	return shares.Caller{Principal: cc.claims.Subject, Console: cc.claims.Session,
		Fallback: func(store.Device) wire.Grant { return cc.grant }}
}

func (a *API) createShare(c *fiber.Ctx, orgID, sessionID string, caller shares.Caller) error {
	if a.cfg.Shares == nil {
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "Share links are not available on this relay.")
	}
	var req shareRequest
	if !body(c, &req) {
		return nil
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(shares.MaxGuestTTL/time.Second) {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "ttl_seconds is from 300 (5 min) to 86400 (24 h), for a guest link.")
	}
	created, err := a.cfg.Shares.Create(c.UserContext(), orgID, caller, sessionID,
		shares.Request{Kind: req.Kind, TTL: time.Duration(req.TTLSeconds) * time.Second})
	if err != nil {
		return a.failErr(c, err)
	}
	v := share(created.View)
	v.Link = created.Link
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (a *API) listShares(c *fiber.Ctx, orgID, sessionID string, caller shares.Caller) error {
	if a.cfg.Shares == nil {
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "Share links are not available on this relay.")
	}
	vs, err := a.cfg.Shares.List(c.UserContext(), orgID, caller, sessionID)
	if err != nil {
		return a.failErr(c, err)
	}
	out := sharesList{Shares: make([]listedShareView, 0, len(vs))}
	for _, v := range vs {
		out.Shares = append(out.Shares, listedShare(v))
	}
	return c.JSON(out)
}

func (a *API) revokeShare(c *fiber.Ctx, orgID, sessionID, shareID string, caller shares.Caller) error {
	if a.cfg.Shares == nil {
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "Share links are not available on this relay.")
	}
	if err := a.cfg.Shares.Revoke(c.UserContext(), orgID, caller, sessionID, shareID); err != nil {
		return a.failErr(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) createSessionShare(c *fiber.Ctx) error {
	p := principalOf(c)
	return a.createShare(c, p.OrgID, c.Params("id"), apiShareCaller(p))
}

func (a *API) listSessionShares(c *fiber.Ctx) error {
	p := principalOf(c)
	return a.listShares(c, p.OrgID, c.Params("id"), apiShareCaller(p))
}

func (a *API) revokeSessionShare(c *fiber.Ctx) error {
	p := principalOf(c)
	return a.revokeShare(c, p.OrgID, c.Params("id"), c.Params("share"), apiShareCaller(p))
}

func (a *API) createConsoleShare(c *fiber.Ctx) error {
	cc := consoleOf(c)
	return a.createShare(c, cc.claims.Tenant, cc.claims.Session, consoleShareCaller(cc))
}

func (a *API) listConsoleShares(c *fiber.Ctx) error {
	cc := consoleOf(c)
	return a.listShares(c, cc.claims.Tenant, cc.claims.Session, consoleShareCaller(cc))
}

func (a *API) revokeConsoleShare(c *fiber.Ctx) error {
	cc := consoleOf(c)
	return a.revokeShare(c, cc.claims.Tenant, cc.claims.Session, c.Params("id"), consoleShareCaller(cc))
}

type joinRequest struct {
	Token string `json:"token"`
	Name  string `json:"name"`
}

type memberJoinedView struct {
	ConsoleURL string     `json:"console_url"`
	Session    string     `json:"session"`
	Device     string     `json:"device"`
	DeviceName string     `json:"device_name"`
	SharedBy   string     `json:"shared_by"`
	Grant      wire.Grant `json:"grant"`
}

// guestJoinedView is POST /console/redeem's answer (the console runs it like a redeemed
// link) with who shared the console.
type guestJoinedView struct {
	Token         string     `json:"token"`
	Device        string     `json:"device"`
	Session       string     `json:"session"`
	ExpiresAt     time.Time  `json:"expires_at"`
	DeviceName    string     `json:"device_name"`
	PrincipalName string     `json:"principal_name"`
	Grant         wire.Grant `json:"grant"`
	SharedBy      string     `json:"shared_by"`
}

func (a *API) joinShare(c *fiber.Ctx) error {
	if a.cfg.Shares == nil {
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "Share links are not available on this relay.")
	}
	var req joinRequest
	if !body(c, &req) {
		return nil
	}
	j, err := a.cfg.Shares.JoinMember(c.UserContext(), principalOf(c), req.Token)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(memberJoinedView{ConsoleURL: j.ConsoleURL, Session: j.Session, Device: j.Device,
		DeviceName: j.DeviceName, SharedBy: j.SharedBy, Grant: j.Grant})
}

// joinAsGuest is public: the relay rate-limits it per client address, like console links.
func (a *API) joinAsGuest(c *fiber.Ctx) error {
	if a.cfg.Shares == nil {
		return fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "Share links are not available on this relay.")
	}
	var req joinRequest
	if !body(c, &req) {
		return nil
	}
	j, err := a.cfg.Shares.JoinGuest(c.UserContext(), req.Token, req.Name)
	if err != nil {
		return a.failErr(c, err)
	}
	a.log.Info("guest joined a shared console", "remote", c.IP(), "sid", j.Session)
	return c.JSON(guestJoinedView{Token: j.Token, Device: j.Device, Session: j.Session, ExpiresAt: j.ExpiresAt,
		DeviceName: j.DeviceName, PrincipalName: j.PrincipalName, Grant: j.Grant, SharedBy: j.SharedBy})
}

// shareFailure answers a refusal of the shares service; ok is false when err is none.
func shareFailure(c *fiber.Ctx, err error) (ok bool, answered error) {
	var se *shares.Error
	if !errors.As(err, &se) {
		return false, nil
	}
	switch {
	case errors.Is(err, shares.ErrNotFound):
		return true, fail(c, fiber.StatusNotFound, CodeNotFound, se.Msg)
	case errors.Is(err, shares.ErrGone):
		return true, fail(c, fiber.StatusGone, CodeGone, se.Msg)
	case errors.Is(err, shares.ErrForbidden), errors.Is(err, shares.ErrGuestLinksOff):
		return true, fail(c, fiber.StatusForbidden, CodeForbidden, se.Msg)
	case errors.Is(err, shares.ErrConflict):
		return true, fail(c, fiber.StatusConflict, CodeConflict, se.Msg)
	}
	return true, fail(c, fiber.StatusBadRequest, CodeBadRequest, se.Msg)
}
