// Command kvmagent runs next to a machine: it dials out to a kvmrelay and serves the machine's
// screen and keyboard/mouse to the consoles the relay authorizes.
//
//	kvmagent enroll --server URL --token T --state-dir DIR   trade a one-time enrollment token
//	                                                         for this device's identity
//	kvmagent [run] --server URL --state-dir DIR [flags]      serve, as the enrolled device
//	kvmagent [run] --server URL --token JWT [flags]          serve, with an agent token
//	                                                         (kvmrelay token agent; the demo)
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/builtin"
	"github.com/kvmrelay/kvmrelay/internal/cli"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
)

const envPrefix = "KVMAGENT_"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "kvmagent: %v\n", err)
		os.Exit(1)
	}
}

// dispatch runs the subcommand args name: enroll, or run (the default).
func dispatch(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "enroll":
			return runEnroll(ctx, args[1:], out)
		case "run":
			args = args[1:]
		}
	}
	return run(ctx, args)
}

// loadRoots reads the PEM certificates that vouch for the relay's HTTPS certificate; empty
// means the system's roots.
func loadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--server-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--server-ca %s: no PEM certificate in it", path)
	}
	return pool, nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runEnroll(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kvmagent enroll", flag.ContinueOnError)
	server := fs.String("server", "", "relay URL, e.g. https://relay.example.com")
	token := fs.String("token", "", "one-time enrollment token from an admin (kvmctl devices enroll-token DEVICE)")
	stateDir := fs.String("state-dir", "", "directory for this device's key and certificate (created 0700)")
	serverCA := fs.String("server-ca", "", "PEM file of the CA that signed the relay's HTTPS certificate (default: system roots)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kvmagent enroll --server URL --token TOKEN --state-dir DIR\nEvery flag can also be set as KVMAGENT_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cli.ApplyEnv(fs, envPrefix); err != nil {
		return err
	}
	if *server == "" || *token == "" || *stateDir == "" {
		return errors.New("enroll needs --server, --token and --state-dir")
	}
	roots, err := loadRoots(*serverCA)
	if err != nil {
		return err
	}
	client, err := enroll.NewHTTPClient(*server, enroll.TLSConfig(nil, roots))
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	id, err := enroll.Enroll(ctx, *stateDir, *token, client)
	switch {
	case errors.Is(err, enroll.ErrTokenRejected):
		return fmt.Errorf("token invalid or used — ask an admin for a new enrollment token (%w)", err)
	case errors.Is(err, enroll.ErrAlreadyEnrolled):
		return fmt.Errorf("%s already holds an enrolled identity; run with it (kvmagent run --state-dir %s), or move it away to enroll again", *stateDir, *stateDir)
	case err != nil:
		return err
	}
	fmt.Fprintf(out, "kvmagent: enrolled as device %s (certificate valid until %s, renewed automatically)\nrun it with: kvmagent run --server %s --state-dir %s\n",
		id.DeviceID(), id.Certificate().NotAfter.UTC().Format(time.RFC3339), *server, *stateDir)
	return nil
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmagent", flag.ContinueOnError)
	server := fs.String("server", "", "relay URL, e.g. https://relay.example.com")
	stateDir := fs.String("state-dir", "", "state directory of an enrolled agent (kvmagent enroll)")
	token := fs.String("token", "", "agent token instead of an enrolled identity (kvmrelay token agent --device NAME)")
	serverCA := fs.String("server-ca", "", "PEM file of the CA that signed the relay's HTTPS certificate (default: system roots)")
	source := fs.String("source", "testpattern", "video source: testpattern, vnc://[:PASSWORD@]HOST[:PORT], mjpeg+http://HOST/PATH, amt+mps://USER@MPS/GUID, … (amt+mps://USER@MPS without a GUID: a gateway serving every AMT machine of the MPS)")
	hidSpec := fs.String("hid", "source", "input: source (the source's own, e.g. VNC), none (view only), usb-gadget:///dev/hidg0,/dev/hidg1")
	size := fs.String("size", "1920x1080", "frame size for sources that draw their own (testpattern)")
	fps := fs.Int("fps", 30, "frame rate")
	bitrate := fs.Int("max-bitrate", 0, "cap on the video bitrate in bits/s (0: scaled to the size)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	secrets := builtin.RegisterSecretFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kvmagent [run] --server URL (--state-dir DIR | --token TOKEN) [flags]\n       kvmagent enroll --server URL --token TOKEN --state-dir DIR\nEvery flag can also be set as KVMAGENT_<FLAG>.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cli.ApplyEnv(fs, envPrefix); err != nil {
		return err
	}
	if *server == "" || (*token == "") == (*stateDir == "") {
		return errors.New("--server and one of --state-dir (an enrolled agent: kvmagent enroll) or --token (kvmrelay token agent --device NAME) are required")
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	w, h, err := cli.Size(*size)
	if err != nil {
		return err
	}
	roots, err := loadRoots(*serverCA)
	if err != nil {
		return err
	}
	cfg := agent.Config{
		Server:     *server,
		Token:      *token,
		NewEncoder: encoders.New,
		Encoder:    media.EncoderConfig{FPS: *fps, MaxBitrate: *bitrate},
		Logger:     log,
	}
	if roots != nil {
		cfg.TLS = enroll.TLSConfig(nil, roots)
	}
	if *stateDir != "" {
		stop, err := withIdentity(ctx, &cfg, *stateDir, roots, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	consent := device.NewConsent()
	opts := device.Options{Width: w, Height: h, FPS: *fps, Logger: log.With("component", "source"), Lookup: os.LookupEnv, Consent: consent}
	if err := secrets.Apply(&opts); err != nil {
		return err
	}
	sel, err := builtin.Open(*source, *hidSpec, opts)
	if err != nil {
		return err
	}
	defer sel.Close()
	cfg.Source, cfg.Gateway, cfg.SourceKind, cfg.Input, cfg.ViewOnly = sel.Source, sel.Gateway, sel.Kind, sel.Input, sel.ViewOnly
	if sel.Source != nil {
		cfg.Consent = consent // a gateway makes one per machine
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// withIdentity makes cfg authenticate as the device enrolled in stateDir: its certificate in
// the TLS handshake of an https relay (mTLS) and a proof of its key on every connection (for
// relays behind a TLS-terminating proxy), and starts renewing the certificate before it
// expires. The returned func stops the renewal.
func withIdentity(ctx context.Context, cfg *agent.Config, stateDir string, roots *x509.CertPool, log *slog.Logger) (func(), error) {
	id, err := enroll.Load(stateDir)
	if errors.Is(err, enroll.ErrNotEnrolled) {
		return nil, fmt.Errorf("%s holds no enrolled identity: run kvmagent enroll --server URL --token TOKEN --state-dir %s first", stateDir, stateDir)
	}
	if err != nil {
		return nil, err
	}
	cfg.TLS = enroll.TLSConfig(id, roots)
	client, err := enroll.NewHTTPClient(cfg.Server, cfg.TLS)
	if err != nil {
		return nil, err
	}
	cfg.Auth = func(ctx context.Context) (http.Header, error) {
		return enroll.ProofHeader(ctx, client, id, time.Now())
	}
	if time.Now().After(id.Certificate().NotAfter) {
		log.Error("this device's certificate has expired; the relay will refuse it: enroll again with a new token", "device", id.DeviceID(), "expired", id.Certificate().NotAfter)
	}
	renewer, err := enroll.NewRenewer(enroll.RenewerConfig{
		Identity: id,
		Client:   client,
		OnError: func(err error) {
			log.Warn("certificate renewal failed; retrying", "device", id.DeviceID(), "expires", id.Certificate().NotAfter, "err", err)
		},
	})
	if err != nil {
		return nil, err
	}
	renewer.Start(ctx)
	log.Info("running as enrolled device", "device", id.DeviceID(), "certificate_expires", id.Certificate().NotAfter, "renew_at", id.RenewAt())
	return func() { renewer.Stop(); client.CloseIdleConnections() }, nil
}
