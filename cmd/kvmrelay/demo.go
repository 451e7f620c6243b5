package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/builtin"
	"github.com/kvmrelay/kvmrelay/internal/cli"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/relay"
)

// The demo's organization and owner, created in the data directory on the first run.
const (
	demoOrgName  = "kvmrelay demo"
	demoOrgSlug  = "demo"
	demoEmail    = "admin@demo.example"
	demoLogin    = "demo-login.json" // in the data directory, 0600: the generated password
	demoAgentDir = "demo-agent"      // in the data directory: the demo device's enrolled identity
	demoCLIDir   = "demo-kvmctl"     // in the data directory: the demo's API client credentials
)

// demoCredentials is what demo-login.json holds.
type demoCredentials struct {
	Org      string `json:"org"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// runDemo is the product on one machine: a relay with its control plane, an organization and
// owner (created once, reused after), a device enrolled through the control plane the way
// kvmagent enrolls, and an agent serving it. It prints the dashboard's sign-in and a console link.
func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmrelay demo", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	source := fs.String("source", "testpattern", "the demo agent's video source: testpattern, vnc://[:PASSWORD@]HOST[:PORT], mjpeg+http://HOST/PATH, …")
	hidSpec := fs.String("hid", "source", "the demo agent's input: source (the source's own, e.g. VNC), none (view only), usb-gadget:///dev/hidg0,/dev/hidg1")
	size := fs.String("size", "1920x1080", "test pattern size WIDTHxHEIGHT")
	fps := fs.Int("fps", 30, "test pattern frame rate")
	deviceName := fs.String("device", "demo", "the demo device's name")
	secrets := builtin.RegisterSecretFlags(fs)
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
	creds, created, err := demoOwner(ctx, cfg)
	if err != nil {
		return err
	}
	r, err := relay.New(cfg)
	if err != nil {
		return err
	}
	consent := device.NewConsent()
	opts := device.Options{Width: w, Height: h, FPS: *fps, Logger: log.With("component", "source"), Lookup: os.LookupEnv, Consent: consent}
	if err := secrets.Apply(&opts); err != nil {
		r.Close()
		return err
	}
	sel, err := builtin.Open(*source, *hidSpec, opts)
	if err != nil {
		r.Close()
		return err
	}
	defer sel.Close()
	if sel.Gateway != nil {
		r.Close()
		return fmt.Errorf("--source %s: the demo shows one machine; name it (amt+mps://USER@MPS/GUID), or enroll kvmagent as a gateway with a relay's control plane", *source)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- r.Serve(ctx) })
	stop := func(err error) error {
		cancel()
		wg.Wait()
		return err
	}

	api, err := client.New(client.Config{Server: r.URL(), ConfigDir: filepath.Join(f.dataDir, demoCLIDir), AllowHTTP: true})
	if err != nil {
		return stop(err)
	}
	if _, err := api.Login(ctx, client.LoginRequest{Org: creds.Org, Email: creds.Email, Password: creds.Password}); err != nil {
		return stop(fmt.Errorf("demo: sign in as %s (delete %s to start over): %w", creds.Email, f.dataDir, err))
	}
	d, id, err := demoDevice(ctx, log, api, r.URL(), filepath.Join(f.dataDir, demoAgentDir), *deviceName)
	if err != nil {
		return stop(err)
	}
	hc, err := enroll.NewHTTPClient(r.URL(), nil)
	if err != nil {
		return stop(err)
	}
	defer hc.CloseIdleConnections()
	renewer, err := enroll.NewRenewer(enroll.RenewerConfig{
		Identity: id,
		Client:   hc,
		OnError:  func(err error) { log.Warn("demo device certificate renewal failed; retrying", "err", err) },
	})
	if err != nil {
		return stop(err)
	}
	renewer.Start(ctx)
	defer renewer.Stop()
	a, err := agent.New(agent.Config{
		Server: r.URL(),
		// As kvmagent run --state-dir: a proof of the enrolled key on every connection.
		Auth:       func(ctx context.Context) (http.Header, error) { return enroll.ProofHeader(ctx, hc, id, time.Now()) },
		Source:     sel.Source,
		SourceKind: sel.Kind,
		Consent:    consent,
		Input:      sel.Input,
		ViewOnly:   sel.ViewOnly,
		NewEncoder: encoders.New,
		Encoder:    media.EncoderConfig{FPS: *fps},
		Logger:     log.With("component", "agent"),
	})
	if err != nil {
		return stop(err)
	}
	wg.Go(func() { errs <- a.Run(ctx) })

	started, err := api.StartConsole(ctx, d.ID)
	if err != nil {
		return stop(fmt.Errorf("demo: start a console session: %w", err))
	}
	printDemo(r.URL(), f, creds, created, *deviceName, d.ID, sel.Source.String(), started.ConsoleURL)

	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	if errors.Is(first, context.Canceled) {
		first = nil
	}
	return stop(first)
}

func printDemo(url string, f serveFlags, creds demoCredentials, created bool, name, id, source string, consoleURL string) {
	fmt.Printf("kvmrelay demo: relay on %s, TURN on %s, device %q (%s) served by a demo agent from %s\n\n",
		url, f.turnListen, name, id, source)
	fmt.Printf("Dashboard: %s/\n", url)
	fmt.Printf("  organization  %s\n  email         %s\n  password      %s\n", creds.Org, creds.Email, creds.Password)
	if created {
		fmt.Printf("  (generated now and kept in %s, readable by you only; delete %s to start over)\n\n",
			filepath.Join(f.dataDir, demoLogin), f.dataDir)
	} else {
		fmt.Printf("  (from %s)\n\n", filepath.Join(f.dataDir, demoLogin))
	}
	fmt.Printf("Console of %q (this link works once, within 10 minutes; the dashboard's Open console makes new ones):\n%s\n", name, consoleURL)
}

// demoOwner returns the demo's sign-in, creating the organization and its owner with a new
// random password on the first run. The password is written before the owner is created, so
// a run stopped in between finds it and finishes the job.
func demoOwner(ctx context.Context, cfg relay.Config) (demoCredentials, bool, error) {
	path := filepath.Join(cfg.DataDir, demoLogin)
	var creds demoCredentials
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &creds); err != nil || creds.Org == "" || creds.Email == "" || creds.Password == "" {
			return creds, false, fmt.Errorf("demo: %s is damaged; delete it (and the organization with %s) to start over", path, cfg.DataDir)
		}
	case errors.Is(err, os.ErrNotExist):
		creds = demoCredentials{Org: demoOrgSlug, Email: demoEmail, Password: newDemoPassword()}
		if err := writeDemoLogin(cfg.DataDir, path, creds); err != nil {
			return creds, false, err
		}
	default:
		return creds, false, fmt.Errorf("demo: %w", err)
	}
	_, _, err = relay.CreateOwner(ctx, cfg, demoOrgName, creds.Org, creds.Email, creds.Password)
	switch {
	case err == nil:
		return creds, true, nil
	case errors.Is(err, accounts.ErrConflict):
		return creds, false, nil // made by an earlier run
	}
	return creds, false, fmt.Errorf("demo: create the demo organization: %w", err)
}

func writeDemoLogin(dir, path string, creds demoCredentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	raw, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// newDemoPassword is 20 random base32 characters (100 bits) in groups of five, easy to copy.
func newDemoPassword() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:20]
	return s[:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:]
}

// demoDevice returns the demo device and its enrolled identity: the device is created through
// the API on the first run, and enrolled with a one-time enrollment token into stateDir as
// `kvmagent enroll` does; later runs reuse both while the identity is still the device's and
// valid, and enroll it again otherwise.
func demoDevice(ctx context.Context, log *slog.Logger, api *client.Client, server, stateDir, name string) (client.Device, *enroll.Identity, error) {
	devices, err := api.Devices(ctx)
	if err != nil {
		return client.Device{}, nil, fmt.Errorf("demo: list devices: %w", err)
	}
	var d client.Device
	for _, x := range devices {
		if x.Name == name && x.RevokedAt == nil {
			d = x
			break
		}
	}
	if d.ID == "" {
		if d, err = api.CreateDevice(ctx, name, map[string]string{"demo": "true"}); err != nil {
			return d, nil, fmt.Errorf("demo: create device %q: %w", name, err)
		}
	}
	id, err := enroll.Load(stateDir)
	if err == nil && id.DeviceID() == d.ID && time.Now().Before(id.Certificate().NotAfter) {
		return d, id, nil
	}
	if err != nil && !errors.Is(err, enroll.ErrNotEnrolled) {
		log.Warn("demo device identity unusable; enrolling again", "dir", stateDir, "err", err)
	}
	// Not enrolled, enrolled as another device, or expired: enroll afresh.
	if err := os.RemoveAll(stateDir); err != nil {
		return d, nil, fmt.Errorf("demo: %w", err)
	}
	tok, err := api.CreateEnrollmentToken(ctx, d.ID)
	if err != nil {
		return d, nil, fmt.Errorf("demo: enrollment token: %w", err)
	}
	hc, err := enroll.NewHTTPClient(server, nil)
	if err != nil {
		return d, nil, err
	}
	defer hc.CloseIdleConnections()
	if id, err = enroll.Enroll(ctx, stateDir, tok.Token, hc); err != nil {
		return d, nil, fmt.Errorf("demo: enroll device %q: %w", name, err)
	}
	return d, id, nil
}
