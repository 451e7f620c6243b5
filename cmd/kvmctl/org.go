package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func (a *app) orgShow(ctx context.Context, args []string) error {
	fs := a.cmdFlags("org show", "[-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	o, err := c.Org(ctx)
	if err != nil {
		return err
	}
	return a.printOrg(o, out.value)
}

func (a *app) printOrg(o client.Org, format string) error {
	if format == "json" {
		return writeJSON(a.stdout, o)
	}
	t := newTable(a.stdout, "SLUG", "NAME", "IDLE TIMEOUT", "MAX SESSION", "REQUIRE MFA")
	t.row(o.Slug, o.Name, (time.Duration(o.IdleTimeoutS) * time.Second).String(), (time.Duration(o.MaxSessionS) * time.Second).String(),
		strconv.FormatBool(o.RequireMFA))
	return t.flush()
}

func (a *app) orgSet(ctx context.Context, args []string) error {
	fs := a.cmdFlags("org set", "--require-mfa true|false [-o table|json]")
	requireMFA := fs.String("require-mfa", "", "true: members without MFA can only enroll it when they log in (your own MFA must be on); false: not required")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if *requireMFA == "" {
		return usageErr("org set: nothing to change: give --require-mfa true or false")
	}
	on, err := strconv.ParseBool(*requireMFA)
	if err != nil {
		return usageErr("org set: --require-mfa %q: want true or false", *requireMFA)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	o, err := c.UpdateOrgSettings(ctx, client.OrgSettings{RequireMFA: &on})
	if err != nil {
		return err
	}
	if out.value == "table" {
		if on {
			fmt.Fprintln(a.stderr, "Members without MFA now log in to a session that can only enroll it (kvmctl mfa enable). API keys are not affected.")
		} else {
			fmt.Fprintln(a.stderr, "MFA is no longer required of members.")
		}
	}
	return a.printOrg(o, out.value)
}
