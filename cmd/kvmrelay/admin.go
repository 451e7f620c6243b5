package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/kvmrelay/kvmrelay/relay"
)

// runAdmin is `kvmrelay admin create`: the first owner of an organization.
func runAdmin(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: kvmrelay admin create --org NAME [--slug SLUG] --email EMAIL --password-stdin")
	}
	fs := flag.NewFlagSet("kvmrelay admin create", flag.ContinueOnError)
	org := fs.String("org", "", "organization name")
	slug := fs.String("slug", "", "organization slug used at login (default: derived from --org)")
	email := fs.String("email", "", "the owner's email")
	pwStdin := fs.Bool("password-stdin", false, "read the owner's password from the first line of standard input")
	dataDir := fs.String("data-dir", "kvmrelay-data", "the relay's data directory (signing key, embedded store)")
	databaseURL := fs.String("database-url", "", "PostgreSQL URL (as the application role) instead of the embedded store")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *org == "" || *email == "" || !*pwStdin {
		return errors.New("kvmrelay admin create needs --org, --email and --password-stdin (e.g. printf '%s\\n' \"$PASSWORD\" | kvmrelay admin create …)")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if *slug == "" {
		*slug = slugify(*org)
	}
	o, u, err := relay.CreateOwner(ctx, relay.Config{Listen: "127.0.0.1:0", DataDir: *dataDir, DatabaseURL: *databaseURL}, *org, *slug, *email, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created organization %q (slug %s, id %s) with owner %s (id %s).\nLog in: kvmctl --server URL login --org %s --email %s\n",
		o.Name, o.Slug, o.ID, u.Email, u.ID, o.Slug, u.Email)
	return nil
}

// slugify makes a login slug from a name: lower-case letters and digits, dashes between words.
func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
		if b.Len() >= 63 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}
