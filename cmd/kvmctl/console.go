package main

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func (a *app) consoleStart(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console start", "DEVICE [-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	s, err := c.StartConsole(ctx, d.ID)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, s)
	}
	fmt.Fprintf(a.stdout, "Console for device %s:\n%s\n", deviceName(d), client.Sanitize(s.ConsoleURL))
	fmt.Fprintf(a.stdout, "The link expires %s (%s). Session %s: desired %s, current %s.\n",
		ts(s.ConsoleURLExpiresAt), until(s.ConsoleURLExpiresAt, a.now()),
		client.Sanitize(s.Session.ID), client.Sanitize(s.Session.Desired), client.Sanitize(s.Session.Current))
	if g := grantSentence(s.Grant); g != "" {
		fmt.Fprintln(a.stdout, g)
	}
	return nil
}

// grantSentence says what a console's grant lets it do on a machine others may watch too;
// empty for a relay that does not say.
func grantSentence(grant string) string {
	switch grant {
	case "":
		return ""
	case "view":
		return "Grant: view (your role lets this console watch; it cannot type or click)."
	case "control":
		return "Grant: control (this console may hold control; it asks whoever holds it)."
	case "admin":
		return "Grant: admin (this console may hold control, and take it from whoever holds it)."
	}
	return "Grant: " + client.Sanitize(grant) + "."
}

func (a *app) consoleStop(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console stop", "DEVICE")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	n, err := c.StopConsole(ctx, d.ID)
	if err != nil {
		return err
	}
	switch n {
	case 0:
		fmt.Fprintf(a.stdout, "No live console session on device %s.\n", deviceName(d))
	case 1:
		fmt.Fprintf(a.stdout, "Stopped 1 console session on device %s.\n", deviceName(d))
	default:
		fmt.Fprintf(a.stdout, "Stopped %d console sessions on device %s.\n", n, deviceName(d))
	}
	return nil
}

func (a *app) consoleGet(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console get", "DEVICE [--all] [-o table|json]")
	all := fs.Bool("all", false, "every session of the device, newest first (default: the newest)")
	out := outputFlag(fs.FlagSet, "table", "json")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	sessions, err := c.DeviceSessions(ctx, d.ID)
	if err != nil {
		return err
	}
	if len(sessions) == 0 && !*all {
		return &exitError{code: client.ExitNotFound,
			msg: fmt.Sprintf("device %s has no console session: start one with kvmctl console start %s", deviceName(d), client.Sanitize(d.ID))}
	}
	if !*all {
		sessions = sessions[:1]
	}
	if out.value == "json" {
		if !*all {
			return writeJSON(a.stdout, sessions[0])
		}
		if sessions == nil {
			sessions = []client.Session{}
		}
		return writeJSON(a.stdout, sessions)
	}
	t := newTable(a.stdout, "SESSION", "DESIRED", "CURRENT", "REASON", "PRINCIPAL", "CREATED", "EXPIRES", "LAST ACTIVITY")
	for _, s := range sessions {
		who := s.Principal.String()
		if name := s.PrincipalName.String(); name != "" {
			who = name // an email or a key's name says more than "user:<uuid>"
		}
		t.row(s.ID, s.Desired, s.Current, s.Reason, who, ts(s.CreatedAt), ts(s.ExpiresAt), tsp(s.LastActivity))
	}
	return t.flush()
}

// consentSession finds the device's newest session waiting for a consent code.
func consentSession(ctx context.Context, c *client.Client, d client.Device) (client.Session, error) {
	sessions, err := c.DeviceSessions(ctx, d.ID)
	if err != nil {
		return client.Session{}, err
	}
	for _, s := range sessions {
		if s.Current == "CONSENT_REQUIRED" {
			return s, nil
		}
	}
	return client.Session{}, &exitError{code: client.ExitNotFound,
		msg: fmt.Sprintf("no console session of device %s waits for a consent code: open its console first (kvmctl console start %s)", deviceName(d), client.Sanitize(d.ID))}
}

func (a *app) consoleConsent(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console consent", "DEVICE CODE")
	pos, err := a.parse(fs, args, "DEVICE", "CODE")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	d, err := c.ResolveDevice(ctx, pos[0])
	if err != nil {
		return err
	}
	s, err := consentSession(ctx, c, d)
	if err != nil {
		return err
	}
	if _, err := c.SubmitConsent(ctx, d.ID, s.ID, pos[1]); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Device %s accepted the consent code; the console of session %s connects.\n", deviceName(d), client.Sanitize(s.ID))
	return nil
}

func (a *app) consoleConsentCancel(ctx context.Context, args []string) error {
	fs := a.cmdFlags("console consent-cancel", "DEVICE")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	s, err := consentSession(ctx, c, d)
	if err != nil {
		return err
	}
	if _, err := c.CancelConsent(ctx, d.ID, s.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Cancelled the consent request of session %s on device %s; the session ended.\n", client.Sanitize(s.ID), deviceName(d))
	return nil
}
