package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/kvmrelay/kvmrelay/relay"
)

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmrelay serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log := f.logger()
	cfg, err := f.relayConfig(log, nil)
	if err != nil {
		return err
	}
	r, err := relay.New(cfg)
	if err != nil {
		return err
	}
	log.Info("kvmrelay serving", "url", r.URL(), "turn", cfg.TURN != nil)
	fmt.Printf("kvmrelay: serving on %s (console links: kvmrelay token console --device NAME --data-dir %s)\n", r.URL(), f.dataDir)
	return r.Serve(ctx)
}
