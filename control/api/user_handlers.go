package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/store"
)

type usersList struct {
	Users []userView `json:"users"`
}

func (a *API) listUsers(c *fiber.Ctx) error {
	us, err := a.cfg.Accounts.Users(c.UserContext(), principalOf(c))
	if err != nil {
		return a.failErr(c, err)
	}
	out := usersList{Users: []userView{}}
	for _, u := range us {
		out.Users = append(out.Users, user(u))
	}
	return c.JSON(out)
}

type patchUserRequest struct {
	Role store.Role `json:"role"`
	// Scope, when present, replaces the user's device label scope ({} for every device).
	Scope *map[string]string `json:"scope"`
}

func (a *API) patchUser(c *fiber.Ctx) error {
	var req patchUserRequest
	if !body(c, &req) {
		return nil
	}
	if (req.Role != "" || req.Scope == nil) && !req.Role.Valid() {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "role must be one of owner, admin, operator, viewer, auditor.")
	}
	p := principalOf(c)
	if req.Role != "" {
		if err := a.cfg.Accounts.SetRole(c.UserContext(), p, c.Params("id"), req.Role); err != nil {
			return a.failErr(c, err)
		}
	}
	if req.Scope != nil {
		if err := a.cfg.Accounts.SetScope(c.UserContext(), p, c.Params("id"), *req.Scope); err != nil {
			return a.failErr(c, err)
		}
	}
	var u store.User
	err := a.cfg.Store.Read(c.UserContext(), p.OrgID, func(tx store.Tx) error {
		var err error
		u, err = tx.User(c.UserContext(), c.Params("id"))
		return err
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(user(u))
}

type inviteRequest struct {
	Email string            `json:"email"`
	Role  store.Role        `json:"role"`
	Scope map[string]string `json:"scope"`
}

type invitationView struct {
	ID         string            `json:"id"`
	Email      string            `json:"email"`
	Role       store.Role        `json:"role"`
	Scope      map[string]string `json:"scope"`
	InvitedBy  string            `json:"invited_by"`
	ExpiresAt  time.Time         `json:"expires_at"`
	AcceptedAt *time.Time        `json:"accepted_at,omitempty"`
}

func invitation(inv store.Invitation) invitationView {
	scope := inv.Scope
	if scope == nil {
		scope = map[string]string{}
	}
	return invitationView{ID: inv.ID, Email: inv.Email, Role: inv.Role, Scope: scope, InvitedBy: inv.InvitedBy, ExpiresAt: inv.ExpiresAt, AcceptedAt: inv.AcceptedAt}
}

type inviteResponse struct {
	Invitation invitationView `json:"invitation"`
	// Link is empty when the invitation was mailed.
	Link string `json:"link"`
}

func (a *API) invite(c *fiber.Ctx) error {
	var req inviteRequest
	if !body(c, &req) {
		return nil
	}
	link, inv, err := a.cfg.Accounts.Invite(c.UserContext(), principalOf(c), req.Email, req.Role, req.Scope)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(inviteResponse{Invitation: invitation(inv), Link: link})
}

type invitationsList struct {
	Invitations []invitationView `json:"invitations"`
}

func (a *API) listInvites(c *fiber.Ctx) error {
	invs, err := a.cfg.Accounts.Invitations(c.UserContext(), principalOf(c))
	if err != nil {
		return a.failErr(c, err)
	}
	out := invitationsList{Invitations: []invitationView{}}
	for _, inv := range invs {
		out.Invitations = append(out.Invitations, invitation(inv))
	}
	return c.JSON(out)
}

type apiKeysList struct {
	APIKeys []apiKeyView `json:"api_keys"`
}

func (a *API) listAPIKeys(c *fiber.Ctx) error {
	ks, err := a.cfg.Accounts.APIKeys(c.UserContext(), principalOf(c))
	if err != nil {
		return a.failErr(c, err)
	}
	out := apiKeysList{APIKeys: []apiKeyView{}}
	for _, k := range ks {
		out.APIKeys = append(out.APIKeys, apiKey(k))
	}
	return c.JSON(out)
}

type createAPIKeyRequest struct {
	Name  string            `json:"name"`
	Role  store.Role        `json:"role"`
	Scope map[string]string `json:"scope"`
}

type createAPIKeyResponse struct {
	// Key is the secret, shown this once.
	Key    string     `json:"key"`
	APIKey apiKeyView `json:"api_key"`
}

func (a *API) createAPIKey(c *fiber.Ctx) error {
	var req createAPIKeyRequest
	if !body(c, &req) {
		return nil
	}
	plain, k, err := a.cfg.Accounts.CreateAPIKey(c.UserContext(), principalOf(c), req.Name, req.Role, req.Scope)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(createAPIKeyResponse{Key: plain, APIKey: apiKey(k)})
}

func (a *API) revokeAPIKey(c *fiber.Ctx) error {
	if err := a.cfg.Accounts.RevokeAPIKey(c.UserContext(), principalOf(c), c.Params("id")); err != nil {
		return a.failErr(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
