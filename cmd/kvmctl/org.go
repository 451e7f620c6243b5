package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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
	t := newTable(a.stdout, "SLUG", "NAME", "IDLE TIMEOUT", "MAX SESSION", "REQUIRE MFA", "GUEST LINKS", "RECORDING", "RECORDING KEYS", "RETENTION")
	t.row(o.Slug, o.Name, (time.Duration(o.IdleTimeoutS) * time.Second).String(), (time.Duration(o.MaxSessionS) * time.Second).String(),
		strconv.FormatBool(o.RequireMFA), onOff(o.GuestLinks), client.Sanitize(o.Recording), onOff(o.RecordingKeys),
		strconv.Itoa(o.RecordingRetentionDays)+"d")
	return t.flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// parseOnOff reads a switch given as on/off or true/false.
func parseOnOff(s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return strconv.ParseBool(s)
}

func (a *app) orgSet(ctx context.Context, args []string) error {
	fs := a.cmdFlags("org set", "[--require-mfa true|false] [--guest-links on|off] [--recording off|on|required] [--recording-keys on|off] [--recording-retention 30d] [-o table|json]")
	requireMFA := fs.String("require-mfa", "", "true: members without MFA can only enroll it when they log in (your own MFA must be on); false: not required")
	guestLinks := fs.String("guest-links", "", "on: console participants may create time-limited, view-only links for people without an account; off: not (ends every guest's console)")
	recording := fs.String("recording", "", "off: sessions are not recorded; on: recorded when the relay can write recordings; required: a session whose recording cannot be written does not start")
	recordingKeys := fs.String("recording-keys", "", "on: recordings keep every key typed, passwords included (audited); off: only input counts")
	retention := fs.String("recording-retention", "", "how long recordings are kept: days (30d, or 30), 1 to 3650")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if *requireMFA == "" && *guestLinks == "" && *recording == "" && *recordingKeys == "" && *retention == "" {
		return usageErr("org set: nothing to change: give --require-mfa true or false, --guest-links on or off, --recording off, on or required, --recording-keys on or off, or --recording-retention DAYS")
	}
	var change client.OrgSettings
	if err := recordingChange(&change, *recording, *recordingKeys, *retention); err != nil {
		return err
	}
	if *requireMFA != "" {
		on, err := strconv.ParseBool(*requireMFA)
		if err != nil {
			return usageErr("org set: --require-mfa %q: want true or false", *requireMFA)
		}
		change.RequireMFA = &on
	}
	if *guestLinks != "" {
		on, err := parseOnOff(*guestLinks)
		if err != nil {
			return usageErr("org set: --guest-links %q: want on or off", *guestLinks)
		}
		change.GuestLinks = &on
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	o, err := c.UpdateOrgSettings(ctx, change)
	if err != nil {
		return err
	}
	if out.value == "table" {
		switch {
		case change.RequireMFA == nil:
		case *change.RequireMFA:
			fmt.Fprintln(a.stderr, "Members without MFA now log in to a session that can only enroll it (kvmctl mfa enable). API keys are not affected.")
		default:
			fmt.Fprintln(a.stderr, "MFA is no longer required of members.")
		}
		switch {
		case change.GuestLinks == nil:
		case *change.GuestLinks:
			fmt.Fprintln(a.stderr, "Console participants may now create view-only guest links (kvmctl console share SESSION --guest).")
		default:
			fmt.Fprintln(a.stderr, "Guest links are off: existing ones no longer work and guests' consoles were ended.")
		}
		if change.RecordingKeys != nil && *change.RecordingKeys {
			fmt.Fprintln(a.stderr, "Recordings now keep every key typed, passwords included; the change is in the audit log.")
		}
	}
	return a.printOrg(o, out.value)
}

// recordingChange reads org set's recording flags into change.
func recordingChange(change *client.OrgSettings, policy, keys, retention string) error {
	if policy != "" {
		if policy != "off" && policy != "on" && policy != "required" {
			return usageErr("org set: --recording %q: want off, on or required", policy)
		}
		change.Recording = &policy
	}
	if keys != "" {
		on, err := parseOnOff(keys)
		if err != nil {
			return usageErr("org set: --recording-keys %q: want on or off", keys)
		}
		change.RecordingKeys = &on
	}
	if retention != "" {
		days, err := strconv.Atoi(strings.TrimSuffix(retention, "d"))
		if err != nil || days < 1 || days > 3650 {
			return usageErr("org set: --recording-retention %q: want days from 1d to 3650d (e.g. 30d)", retention)
		}
		change.RecordingRetentionDays = &days
	}
	return nil
}
