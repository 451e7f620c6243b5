package main

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func (a *app) usersList(ctx context.Context, args []string) error {
	fs := a.cmdFlags("users list", "[-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	users, err := c.Users(ctx)
	if err != nil {
		return err
	}
	if out.value == "json" {
		if users == nil {
			users = []client.User{}
		}
		return writeJSON(a.stdout, users)
	}
	t := newTable(a.stdout, "ID", "EMAIL", "ROLE", "SCOPE", "MFA", "DISABLED", "CREATED")
	for _, u := range users {
		t.row(u.ID, u.Email, u.Role, client.FormatLabels(u.Scope), yesNo(u.MFA), yesNo(u.Disabled), ts(u.CreatedAt))
	}
	return t.flush()
}

func (a *app) usersInvite(ctx context.Context, args []string) error {
	fs := a.cmdFlags("users invite", "EMAIL --role ROLE [--scope KEY=VALUE]... [-o table|json]")
	role := fs.String("role", "", "owner, admin, operator, viewer or auditor (required)")
	scope := kvFlag{}
	fs.Var(scope, "scope", "limit the role to devices with label KEY=VALUE (repeatable)")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "EMAIL")
	if err != nil {
		return err
	}
	if *role == "" {
		return usageErr("users invite: --role is required (owner, admin, operator, viewer or auditor)")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	inv, err := c.InviteUser(ctx, client.Invite{Email: pos[0], Role: *role, Scope: scope})
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, inv)
	}
	i := inv.Invitation
	fmt.Fprintf(a.stdout, "Invited %s as %s; the invitation expires %s (%s).\n",
		client.Sanitize(i.Email), client.Sanitize(i.Role), ts(i.ExpiresAt), until(i.ExpiresAt, a.now()))
	if inv.Link == "" {
		fmt.Fprintln(a.stdout, "The invitation was mailed.")
	} else {
		fmt.Fprintf(a.stdout, "No mail is configured: send them this link (shown once):\n%s\n", client.Sanitize(inv.Link))
	}
	return nil
}

func (a *app) apikeysList(ctx context.Context, args []string) error {
	fs := a.cmdFlags("apikeys list", "[-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	keys, err := c.APIKeys(ctx)
	if err != nil {
		return err
	}
	if out.value == "json" {
		if keys == nil {
			keys = []client.APIKey{}
		}
		return writeJSON(a.stdout, keys)
	}
	t := newTable(a.stdout, "ID", "NAME", "PREFIX", "ROLE", "SCOPE", "CREATED", "REVOKED")
	for _, k := range keys {
		t.row(k.ID, k.Name, k.Prefix, k.Role, client.FormatLabels(k.Scope), ts(k.CreatedAt), tsp(k.RevokedAt))
	}
	return t.flush()
}

func (a *app) apikeysCreate(ctx context.Context, args []string) error {
	fs := a.cmdFlags("apikeys create", "NAME --role ROLE [--scope KEY=VALUE]... [-o table|json]")
	role := fs.String("role", "", "the key's role: owner, admin, operator, viewer or auditor (required)")
	scope := kvFlag{}
	fs.Var(scope, "scope", "limit the key to devices with label KEY=VALUE (repeatable)")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	if *role == "" {
		return usageErr("apikeys create: --role is required (owner, admin, operator, viewer or auditor)")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	k, err := c.CreateAPIKey(ctx, client.NewAPIKey{Name: pos[0], Role: *role, Scope: scope})
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, k)
	}
	// The key alone on stdout (KEY=$(kvmctl apikeys create …) works); the rest on stderr.
	fmt.Fprintf(a.stderr, "Created API key %s (id %s, prefix %s, role %s). It is shown this once; store it now:\n",
		client.Sanitize(k.APIKey.Name), client.Sanitize(k.APIKey.ID), client.Sanitize(k.APIKey.Prefix), client.Sanitize(k.APIKey.Role))
	fmt.Fprintln(a.stdout, client.Sanitize(k.Key))
	return nil
}

func (a *app) apikeysRevoke(ctx context.Context, args []string) error {
	fs := a.cmdFlags("apikeys revoke", "ID")
	pos, err := a.parse(fs, args, "ID")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.RevokeAPIKey(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Revoked API key %s.\n", client.Sanitize(pos[0]))
	return nil
}
