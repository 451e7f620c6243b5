package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "agent" && args[0] != "console") {
		return fmt.Errorf("usage: kvmrelay token agent|console --device NAME [--data-dir DIR] [--grant view|control|admin]")
	}
	kind := args[0]
	fs := flag.NewFlagSet("kvmrelay token "+kind, flag.ContinueOnError)
	device := fs.String("device", "", "device name (or id)")
	dataDir := fs.String("data-dir", "kvmrelay-data", "the relay's data directory (holds the signing key and the embedded store)")
	databaseURL := fs.String("database-url", "", "PostgreSQL URL (as the application role) when the relay uses one, to find --device by name")
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "the relay's URL, for console links")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "agent token lifetime")
	principal := fs.String("principal", "operator", "who the console link is for (shown in logs, and to the other consoles of the machine)")
	grant := fs.String("grant", string(wire.GrantControl), "what the console may do on a machine others may watch too: view (watch only), control (hold control, asking for it), admin (also take it)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *device == "" {
		return fmt.Errorf("--device is required")
	}
	if g := wire.Grant(*grant); kind == "console" && !g.Valid() {
		return fmt.Errorf("--grant %q: want view, control or admin", *grant)
	}
	keys, err := auth.LoadOrCreateKeyring(*dataDir)
	if err != nil {
		return err
	}
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: relay.IssuerName})
	if err != nil {
		return err
	}
	var out string
	if kind == "agent" {
		out, err = relay.AgentToken(iss, *device, *ttl)
	} else {
		out, err = consoleLink(ctx, iss, relay.Config{Listen: "127.0.0.1:0", DataDir: *dataDir, DatabaseURL: *databaseURL, PublicURL: *publicURL,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, *device, *principal, wire.Grant(*grant), stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, out)
	return nil
}

// consoleLink is a control-plane session's link when the device is known there (enrolled
// agents connect under their device's id, not its name), else a bare link for a device whose
// agent runs with `kvmrelay token agent --device NAME`.
func consoleLink(ctx context.Context, iss *auth.Issuer, cfg relay.Config, device, principal string, grant wire.Grant, stderr io.Writer) (string, error) {
	link, err := relay.ConsoleLinkForDeviceWithGrant(ctx, cfg, device, principal, grant)
	if !errors.Is(err, relay.ErrNoSuchDevice) {
		return link, err
	}
	fmt.Fprintf(stderr, "No device %q in the control plane: this link reaches only an agent started with a token from `kvmrelay token agent --device %s`.\n", device, device)
	return relay.ConsoleLinkWithGrant(iss, cfg.PublicURL, device, principal, grant)
}
