package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/qrcode"
)

// enrollHint is what kvmctl says when the organization requires MFA of a user without it.
const enrollHint = "your organization requires MFA: run kvmctl mfa enable"

// mfaUser checks that the credentials are a user's (API keys and OIDC principals have no
// second factor here) and returns the client and who it is.
func (a *app) mfaUser(ctx context.Context) (*client.Client, client.Me, error) {
	c, err := a.client()
	if err != nil {
		return nil, client.Me{}, err
	}
	me, err := c.Me(ctx)
	if err != nil {
		return nil, client.Me{}, err
	}
	if me.Kind != "user" {
		return nil, client.Me{}, usageErr("a second factor belongs to a user, and these credentials are %s %s: log in with kvmctl login (without --api-key)",
			client.Sanitize(me.Kind), client.Sanitize(me.ID))
	}
	return c, me, nil
}

// code returns the --code flag's value, else reads one (without echo on a terminal; one line
// from a pipe, for scripts).
func (a *app) code(ctx context.Context, flagValue, prompt string) (string, error) {
	code := strings.TrimSpace(flagValue)
	if code == "" {
		var err error
		if code, err = a.readSecret(ctx, prompt); err != nil {
			return "", err
		}
		code = strings.TrimSpace(code)
	}
	if code == "" {
		return "", usageErr("no code given; nothing was changed")
	}
	if isTOTP(code) {
		code = strings.ReplaceAll(code, " ", "")
	}
	return code, nil
}

func (a *app) mfaEnable(ctx context.Context, args []string) error {
	fs := a.cmdFlags("mfa enable", "[--qr-invert]")
	invert := fs.Bool("qr-invert", false, "draw the QR code for dark text on a light background (the default suits light text on dark)")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, me, err := a.mfaUser(ctx)
	if err != nil {
		return err
	}
	if me.MFAEnabled {
		return &exitError{code: client.ExitConflict, msg: "MFA is already on for " + client.Sanitize(me.Email) +
			": kvmctl mfa recovery-codes makes new recovery codes; kvmctl mfa disable, then enable, moves to a new authenticator"}
	}
	en, err := c.BeginTOTP(ctx)
	if err != nil {
		return err
	}
	qr, err := qrcode.Terminal(en.OTPAuthURL, *invert)
	if err != nil {
		return fmt.Errorf("draw the QR code (add the secret by hand instead): %w", err)
	}
	fmt.Fprintf(a.stdout, "Scan this QR code with your authenticator app (or add the key by hand):\n\n%s\n%s\n\nKey: %s\n\n",
		qr, client.Sanitize(en.OTPAuthURL), client.Sanitize(en.Secret))
	code, err := a.code(ctx, "", "Code from your authenticator app, to confirm: ")
	if err != nil {
		return err
	}
	codes, err := c.ConfirmTOTP(ctx, code)
	if err != nil {
		return fmt.Errorf("%w\nMFA stays off; run kvmctl mfa enable again (it shows a new key)", err)
	}
	fmt.Fprintf(a.stdout, "MFA is on for %s. From now on you log in with your password and a code.\n\n", client.Sanitize(me.Email))
	a.printRecoveryCodes(codes)
	return nil
}

// printRecoveryCodes shows recovery codes, which the server never shows again.
func (a *app) printRecoveryCodes(codes []string) {
	fmt.Fprintln(a.stdout, "Recovery codes (shown this once; each works once in place of a code, e.g. when the phone is lost; keep them somewhere safe):")
	for _, c := range codes {
		fmt.Fprintf(a.stdout, "  %s\n", client.Sanitize(c))
	}
}

func (a *app) mfaDisable(ctx context.Context, args []string) error {
	c, me, code, err := a.mfaCodeStep(ctx, args, "mfa disable",
		"a current code from the authenticator app, or an unused recovery code (default: asked for, or read from a pipe)",
		"; nothing to disable", "Code from your authenticator app (or a recovery code): ")
	if err != nil {
		return err
	}
	if err := c.DisableTOTP(ctx, code); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "MFA is off for %s: you log in with the password alone. kvmctl mfa enable turns it on again.\n", client.Sanitize(me.Email))
	return nil
}

func (a *app) mfaRecoveryCodes(ctx context.Context, args []string) error {
	c, _, code, err := a.mfaCodeStep(ctx, args, "mfa recovery-codes",
		"a current code from the authenticator app (default: asked for, or read from a pipe)",
		": run kvmctl mfa enable", "Code from your authenticator app: ")
	if err != nil {
		return err
	}
	codes, err := c.RegenerateRecoveryCodes(ctx, code)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "New recovery codes; the old ones no longer work.")
	a.printRecoveryCodes(codes)
	return nil
}

// withEnrollHint replaces the server's refusal of a session that may only enroll MFA by what
// to run.
func withEnrollHint(err error) error {
	if client.IsMFAEnrollmentRequired(err) {
		return &exitError{code: client.ExitUnauthorized, msg: enrollHint}
	}
	return err
}

// mfaCodeStep is the start of the commands that need MFA on and a current code: parse
// [--code CODE], check the user has MFA (else notOn follows "MFA is not on for EMAIL"), and
// take the code from the flag, a pipe or a prompt.
func (a *app) mfaCodeStep(ctx context.Context, args []string, name, codeHelp, notOn, prompt string) (*client.Client, client.Me, string, error) {
	fs := a.cmdFlags(name, "[--code CODE]")
	flagCode := fs.String("code", "", codeHelp)
	if _, err := a.parse(fs, args); err != nil {
		return nil, client.Me{}, "", err
	}
	c, me, err := a.mfaUser(ctx)
	if err != nil {
		return nil, client.Me{}, "", err
	}
	if !me.MFAEnabled {
		return nil, client.Me{}, "", &exitError{code: client.ExitConflict, msg: "MFA is not on for " + client.Sanitize(me.Email) + notOn}
	}
	code, err := a.code(ctx, *flagCode, prompt)
	if err != nil {
		return nil, client.Me{}, "", err
	}
	return c, me, code, nil
}
