// Command kvmagent runs next to a machine: it dials out to a kvmrelay and serves the machine's
// screen and keyboard/mouse to the consoles the relay authorizes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/internal/cli"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
)

const envPrefix = "KVMAGENT_"

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, args); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "kvmagent: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmagent", flag.ContinueOnError)
	server := fs.String("server", "", "relay URL, e.g. https://relay.example.com")
	token := fs.String("token", "", "agent token (kvmrelay token agent --device NAME)")
	source := fs.String("source", "testpattern", "video source: testpattern (later mjpeg+http://…, vnc://…, amt+mps://…)")
	size := fs.String("size", "1920x1080", "frame size for sources that draw their own (testpattern)")
	fps := fs.Int("fps", 30, "frame rate")
	bitrate := fs.Int("max-bitrate", 0, "cap on the video bitrate in bits/s (0: scaled to the size)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kvmagent [run] --server URL --token TOKEN [flags]\nEvery flag can also be set as KVMAGENT_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cli.ApplyEnv(fs, envPrefix); err != nil {
		return err
	}
	if *server == "" || *token == "" {
		return errors.New("--server and --token are required (mint a token with: kvmrelay token agent --device NAME)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	w, h, err := cli.Size(*size)
	if err != nil {
		return err
	}
	dev, sourceName, err := agent.OpenDevice(*source, w, h, *fps)
	if err != nil {
		return err
	}
	defer dev.Close()
	a, err := agent.New(agent.Config{
		Server:     *server,
		Token:      *token,
		Device:     dev,
		SourceName: sourceName,
		NewEncoder: encoders.New,
		Encoder:    media.EncoderConfig{FPS: *fps, MaxBitrate: *bitrate},
		Logger:     log,
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
