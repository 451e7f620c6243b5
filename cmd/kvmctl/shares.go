package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/kvmrelay/kvmrelay/control/client"
)

// consoleShare shares a running console session: a member link by default (a colleague
// signs in and watches), a guest link with --guest (view only, no account, time-limited).
func (a *app) consoleShare(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console share", "SESSION [--guest [--ttl 1h]] [-o table|json]")
	guest := fs.Bool("guest", false, "a guest link: view only, no account, expires (the organization must allow guest links)")
	ttl := fs.Duration("ttl", 0, "how long a guest link lasts, 5m to 24h (default 1h)")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "SESSION")
	if err != nil {
		return err
	}
	if *ttl != 0 && !*guest {
		return usageErr("console share: --ttl is for guest links (add --guest); a member link lasts as long as the console")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	in := client.NewShare{Kind: "member"}
	if *guest {
		in = client.NewShare{Kind: "guest", TTL: *ttl}
	}
	sh, err := c.ShareSession(ctx, pos[0], in)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, sh)
	}
	fmt.Fprintln(a.stdout, client.Sanitize(sh.Link))
	if sh.ExpiresAt != nil {
		fmt.Fprintf(a.stderr, "Guest link %s to watch %s (view only, no account); it expires %s (%s). Revoke it with kvmctl console unshare %s %s.\n",
			client.Sanitize(sh.ID), sh.DeviceName, ts(*sh.ExpiresAt), until(*sh.ExpiresAt, a.now()), client.Sanitize(sh.Session), client.Sanitize(sh.ID))
	} else {
		fmt.Fprintf(a.stderr, "Share link %s to watch %s: members of the organization sign in, then watch (never control) while the console lasts. Revoke it with kvmctl console unshare %s %s.\n",
			client.Sanitize(sh.ID), sh.DeviceName, client.Sanitize(sh.Session), client.Sanitize(sh.ID))
	}
	fmt.Fprintln(a.stderr, "The link is shown this once.")
	return nil
}

// consoleShares lists a console session's share links.
func (a *app) consoleShares(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console shares", "SESSION [-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "SESSION")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	list, err := c.SessionShares(ctx, pos[0])
	if err != nil {
		return err
	}
	if out.value == "json" {
		if list == nil {
			list = []client.Share{}
		}
		return writeJSON(a.stdout, list)
	}
	t := newTable(a.stdout, "SHARE", "KIND", "STATE", "JOINED", "EXPIRES", "CREATED BY", "CREATED")
	for _, sh := range list {
		state := "live"
		switch {
		case sh.RevokedAt != nil:
			state = "revoked " + ts(*sh.RevokedAt)
		case sh.Live != nil && !*sh.Live:
			state = "expired"
		}
		joined := ""
		if sh.Joined != nil {
			joined = strconv.Itoa(*sh.Joined)
		}
		who := sh.CreatedBy.String()
		if name := sh.CreatedByName.String(); name != "" {
			who = name
		}
		t.row(sh.ID, sh.Kind, state, joined, tsp(sh.ExpiresAt), who, ts(sh.CreatedAt))
	}
	return t.flush()
}

// consoleUnshare revokes a share link; the consoles joined through it end at once.
func (a *app) consoleUnshare(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console unshare", "SESSION SHARE_ID")
	pos, err := a.parse(fs, args, "SESSION", "SHARE_ID")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.RevokeShare(ctx, pos[0], pos[1]); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Share link %s revoked; the consoles joined through it were ended.\n", client.Sanitize(pos[1]))
	return nil
}
