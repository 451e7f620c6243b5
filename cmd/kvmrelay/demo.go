package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/internal/cli"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/relay"
)

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmrelay demo", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	source := fs.String("source", "testpattern", "the demo agent's video source (testpattern, later mjpeg+http://…, vnc://…)")
	size := fs.String("size", "1920x1080", "test pattern size WIDTHxHEIGHT")
	fps := fs.Int("fps", 30, "test pattern frame rate")
	device := fs.String("device", "demo", "the demo device's name")
	if err := parse(fs, args); err != nil {
		return err
	}
	log := f.logger()
	w, h, err := cli.Size(*size)
	if err != nil {
		return err
	}
	// The demo agent runs on this machine: let TURN relay to this machine's own addresses and
	// to nothing else, so "relay only" consoles work out of the box.
	local, err := relay.LocalAddrs()
	if err != nil {
		return err
	}
	cfg, err := f.relayConfig(log, local)
	if err != nil {
		return err
	}
	r, err := relay.New(cfg)
	if err != nil {
		return err
	}
	dev, sourceName, err := agent.OpenDevice(*source, w, h, *fps)
	if err != nil {
		r.Close()
		return err
	}
	defer dev.Close()
	token, err := relay.AgentToken(r.Issuer(), *device, 24*time.Hour)
	if err != nil {
		r.Close()
		return err
	}
	a, err := agent.New(agent.Config{
		Server:     r.URL(),
		Token:      token,
		Device:     dev,
		SourceName: sourceName,
		NewEncoder: encoders.New,
		Encoder:    media.EncoderConfig{FPS: *fps},
		Logger:     log.With("component", "agent"),
	})
	if err != nil {
		r.Close()
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- r.Serve(ctx) })
	wg.Go(func() { errs <- a.Run(ctx) })

	link, err := relay.ConsoleLink(r.Issuer(), r.URL(), *device, "demo")
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	fmt.Printf("kvmrelay demo: relay on %s, TURN on %s, demo agent %q on %s %dx%d@%d\n", r.URL(), f.turnListen, *device, sourceName, w, h, *fps)
	fmt.Printf("console: %s\n", link)
	fmt.Printf("(the link works once; another: kvmrelay token console --device %s --data-dir %s --public-url %s)\n", *device, f.dataDir, r.URL())

	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	cancel()
	wg.Wait()
	if errors.Is(first, context.Canceled) {
		first = nil
	}
	return first
}
