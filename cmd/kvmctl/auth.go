package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func (a *app) login(ctx context.Context, args []string) error {
	fs := a.cmdFlags("login", "[--org ORG] [--email EMAIL]  (or with --api-key KEY / KVMCTL_API_KEY)")
	org := fs.String("org", "", "organization (default: the one of the last login)")
	email := fs.String("email", "", "email (default: the one of the last login)")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	key := a.g.apiKey
	a.g.apiKey = "" // a login stores credentials; it does not use the key as the session
	c, err := a.client()
	if err != nil {
		return err
	}
	if key != "" {
		me, err := c.LoginAPIKey(ctx, key)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Logged in to %s with API key %s (organization %s, role %s).\n",
			c.Server(), client.Sanitize(me.ID), client.Sanitize(me.OrgSlug), client.Sanitize(me.Role))
		return nil
	}

	st := c.Settings()
	if *org == "" {
		*org = st.Org
	}
	if *email == "" {
		*email = st.Email
	}
	if *org == "" {
		if *org, err = a.readLine(ctx, "Organization: "); err != nil {
			return err
		}
	}
	if *email == "" {
		if *email, err = a.readLine(ctx, "Email: "); err != nil {
			return err
		}
	}
	password, err := a.readSecret(ctx, fmt.Sprintf("Password for %s at %s: ", *email, *org))
	if err != nil {
		return err
	}
	req := client.LoginRequest{Org: *org, Email: *email, Password: password}
	tok, err := c.Login(ctx, req)
	if client.IsAccountSlowed(err) {
		// A flood from elsewhere slows the account; a current authenticator code gets in now.
		fmt.Fprintf(a.stderr, "kvmctl: %v\n", err)
		code, rerr := a.readLine(ctx, "Code from your authenticator app (empty to give up and wait): ")
		if rerr != nil || strings.TrimSpace(code) == "" {
			return err
		}
		req.TOTP = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
		tok, err = c.Login(ctx, req)
	}
	if client.IsMFARequired(err) {
		code, rerr := a.readLine(ctx, "Code from your authenticator app (or a recovery code): ")
		if rerr != nil {
			return rerr
		}
		if isTOTP(code) {
			req.TOTP = strings.ReplaceAll(code, " ", "")
		} else {
			req.RecoveryCode = code
		}
		tok, err = c.Login(ctx, req)
	}
	if err != nil {
		return err
	}
	who := fmt.Sprintf("%s (organization %s)", *email, *org)
	if me, err := c.Me(ctx); err == nil {
		who = fmt.Sprintf("%s (organization %s, role %s)", me.Email, me.OrgSlug, me.Role)
	}
	fmt.Fprintf(a.stdout, "Logged in to %s as %s; without use the login ends at %s.\n",
		c.Server(), client.Sanitize(who), ts(tok.RefreshExpiresAt))
	if tok.MFAEnrollmentRequired {
		fmt.Fprintf(a.stderr, "kvmctl: %s (until then this login can do nothing else).\n", enrollHint)
	}
	return nil
}

// isTOTP tells a TOTP code (6 to 8 digits, spaces allowed) from a recovery code.
func isTOTP(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 6 || len(s) > 8 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

func (a *app) logout(ctx context.Context, args []string) error {
	fs := a.cmdFlags("logout", "")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	a.g.apiKey = ""
	c, err := a.client()
	if err != nil {
		return err
	}
	hadKey, err := c.Logout(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Logged out of %s.\n", c.Server())
	if hadKey {
		fmt.Fprintln(a.stdout, "The API key is forgotten here but stays valid: revoke it with kvmctl apikeys revoke ID.")
	}
	return nil
}

func (a *app) whoami(ctx context.Context, args []string) error {
	fs := a.cmdFlags("whoami", "[-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	me, err := c.Me(ctx)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, me)
	}
	t := newTable(a.stdout, "SERVER", "ORGANIZATION", "KIND", "ID", "EMAIL", "ROLE", "SCOPE")
	t.row(c.Server(), me.OrgSlug, me.Kind, me.ID, me.Email, me.Role, client.FormatLabels(me.Scope))
	return t.flush()
}

// readLine prompts on stderr and reads one line of stdin, trimmed.
func (a *app) readLine(ctx context.Context, prompt string) (string, error) {
	s, err := a.readRawLine(ctx, prompt)
	return strings.TrimSpace(s), err
}

// readRawLine prompts on stderr and reads one line of stdin without its line ending. An
// interrupt (ctx) ends the wait.
func (a *app) readRawLine(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	line, err := waitFor(ctx, func() (string, error) { return a.in.ReadString('\n') })
	if ctx.Err() != nil {
		fmt.Fprintln(a.stderr)
		return "", ctx.Err()
	}
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		fmt.Fprintln(a.stderr)
		return "", usageErr("no answer to %q on standard input", strings.TrimSpace(prompt))
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readSecret prompts on stderr and reads a line without echo from a terminal (or as a plain
// line when stdin is a pipe, for automation). An interrupt restores the terminal's echo.
func (a *app) readSecret(ctx context.Context, prompt string) (string, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return a.readRawLine(ctx, prompt)
	}
	fd := int(f.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(a.stderr, prompt)
	s, err := waitFor(ctx, func() (string, error) {
		b, err := term.ReadPassword(fd)
		return string(b), err
	})
	fmt.Fprintln(a.stderr)
	if ctx.Err() != nil {
		_ = term.Restore(fd, state)
		return "", ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return s, nil
}

// waitFor runs a blocking read and returns its result, or returns when ctx ends (the read is
// then abandoned: the process is about to exit).
func waitFor(ctx context.Context, read func() (string, error)) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := read()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
