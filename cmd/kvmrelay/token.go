package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/relay"
)

func runToken(args []string) error {
	if len(args) == 0 || (args[0] != "agent" && args[0] != "console") {
		return fmt.Errorf("usage: kvmrelay token agent|console --device NAME [--data-dir DIR]")
	}
	kind := args[0]
	fs := flag.NewFlagSet("kvmrelay token "+kind, flag.ContinueOnError)
	device := fs.String("device", "", "device name")
	dataDir := fs.String("data-dir", "kvmrelay-data", "the relay's data directory (holds the signing key)")
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "the relay's URL, for console links")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "agent token lifetime")
	principal := fs.String("principal", "operator", "who the console link is for (shown in logs)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *device == "" {
		return fmt.Errorf("--device is required")
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
		out, err = relay.ConsoleLink(iss, *publicURL, *device, *principal)
	}
	if err != nil {
		return err
	}
	fmt.Println(out)
	return nil
}
