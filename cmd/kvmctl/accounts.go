package main

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/kvmrelay/kvmrelay/control/client"
)

// stdinTerminal reports whether stdin is a terminal (prompts then read without echo, and a
// new password is asked twice).
func (a *app) stdinTerminal() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newPassword reads a new password: twice on a terminal (a typo would lock the user out),
// once from a pipe.
func (a *app) newPassword(ctx context.Context, prompt string) (string, error) {
	pw, err := a.readSecret(ctx, prompt)
	if err != nil {
		return "", err
	}
	if a.stdinTerminal() {
		again, err := a.readSecret(ctx, "Again: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", usageErr("the two passwords differ; nothing was changed")
		}
	}
	if pw == "" {
		return "", usageErr("an empty password; nothing was changed")
	}
	return pw, nil
}

func (a *app) passwordChange(ctx context.Context, args []string) error {
	fs := a.cmdFlags("password change", "[--password-stdin]")
	stdin := fs.Bool("password-stdin", false, "read the current password, then the new one, one a line from standard input")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if *stdin && a.stdinTerminal() {
		return usageErr("password change: --password-stdin wants a pipe, not a terminal")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	current, err := a.readSecret(ctx, "Current password: ")
	if err != nil {
		return err
	}
	next, err := a.newPassword(ctx, "New password (at least 12 characters): ")
	if err != nil {
		return err
	}
	if err := c.ChangePassword(ctx, current, next); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "Password changed. Every other session of yours has ended; this login goes on.")
	return nil
}

func (a *app) passwordReset(ctx context.Context, args []string) error {
	fs := a.cmdFlags("password reset", "--token TOKEN|LINK [--password-stdin]")
	token := fs.String("token", "", "the token of the reset link an admin sent you, or the whole link (required)")
	stdin := fs.Bool("password-stdin", false, "read the new password from standard input")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if *token == "" {
		return usageErr("password reset: --token is required: the link an admin sent you (…/console/#reset=kvmp_…) or its token")
	}
	if *stdin && a.stdinTerminal() {
		return usageErr("password reset: --password-stdin wants a pipe, not a terminal")
	}
	a.g.apiKey = "" // no credentials: the token is the credential
	c, err := a.client()
	if err != nil {
		return err
	}
	pw, err := a.newPassword(ctx, "New password (at least 12 characters): ")
	if err != nil {
		return err
	}
	done, err := c.ResetPassword(ctx, *token, pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Password set for %s in organization %s. Every earlier session has ended; log in with:\n  kvmctl --server %s login --org %s --email %s\n",
		client.Sanitize(done.Email), client.Sanitize(done.OrgSlug), c.Server(), client.Sanitize(done.OrgSlug), client.Sanitize(done.Email))
	return nil
}

// userCommand parses a command taking USER (an id or an email) and resolves it.
func (a *app) userCommand(ctx context.Context, name string, args []string) (*client.Client, client.User, *format, error) {
	fs := a.cmdFlags(name, "USER [-o table|json]  (USER: a user id or email)")
	out := outputFlag(fs.FlagSet, "table", "json")
	c, u, err := a.userArg(ctx, fs, args)
	return c, u, out, err
}

func (a *app) usersResetPassword(ctx context.Context, args []string) error {
	c, u, out, err := a.userCommand(ctx, "users reset-password", args)
	if err != nil {
		return err
	}
	r, err := c.IssuePasswordReset(ctx, u.ID)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, r)
	}
	if r.Link == "" {
		fmt.Fprintf(a.stdout, "A password reset link was mailed to %s; it works once, until %s (%s).\n",
			client.Sanitize(u.Email), ts(r.ExpiresAt), until(r.ExpiresAt, a.now()))
		return nil
	}
	if r.MailError != "" {
		fmt.Fprintf(a.stderr, "%s\n", client.Sanitize(r.MailError))
	}
	fmt.Fprintf(a.stderr, "Not mailed: send %s this link (shown once; it works once, until %s, %s):\n",
		client.Sanitize(u.Email), ts(r.ExpiresAt), until(r.ExpiresAt, a.now()))
	fmt.Fprintln(a.stdout, client.Sanitize(r.Link))
	return nil
}

func (a *app) usersDisable(ctx context.Context, args []string) error {
	c, u, out, err := a.userCommand(ctx, "users disable", args)
	if err != nil {
		return err
	}
	d, err := c.DisableUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, d)
	}
	fmt.Fprintf(a.stdout, "Disabled %s: their sessions ended and %d console(s) were stopped. kvmctl users enable %s undoes it.\n",
		client.Sanitize(u.Email), d.SessionsStopped, client.Sanitize(u.Email))
	return nil
}

func (a *app) usersEnable(ctx context.Context, args []string) error {
	c, u, out, err := a.userCommand(ctx, "users enable", args)
	if err != nil {
		return err
	}
	e, err := c.EnableUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, e)
	}
	fmt.Fprintf(a.stdout, "Enabled %s: they can log in again.\n", client.Sanitize(u.Email))
	return nil
}

func (a *app) usersResetMFA(ctx context.Context, args []string) error {
	fs := a.cmdFlags("users reset-mfa", "USER  (USER: a user id or email)")
	c, u, err := a.userArg(ctx, fs, args)
	if err != nil {
		return err
	}
	if err := c.ResetMFA(ctx, u.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "The second factor of %s is off: they log in with the password alone and should enroll a new authenticator at once.\n",
		client.Sanitize(u.Email))
	return nil
}
