// Command amtsim is the Intel AMT simulator, for tests and demos — never production.
//
//	amtsim mps --cira-listen ADDR --listen ADDR --device GUID:MPSUSER [--device …] [--tls]
//	    a fake MPS: the CIRA server AMT machines dial, the REST API and relay WebSocket
//	    kvmagent's amt+mps source uses. The web user's password and every device's MPS
//	    password come from AMTSIM_MPS_PASSWORD, the AMT (vault) password from
//	    AMTSIM_AMT_PASSWORD. With --tls, --ca-out FILE writes its certificate for --mps-ca.
//	amtsim device --cira HOST:PORT --guid GUID --mps-user USER --vnc HOST:PORT [flags]
//	    a fake AMT firmware: it dials the MPS over TLS (CIRA/APF), runs the redirection
//	    protocol and serves RFB shaped like AMT from the VNC server's screen, and answers
//	    WS-Man for power, features, user consent (the code is printed) and displays.
//	    Passwords from AMTSIM_MPS_PASSWORD and AMTSIM_AMT_PASSWORD.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kvmrelay/kvmrelay/amt/wsman"
	"github.com/kvmrelay/kvmrelay/internal/amtsim"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/firmware"
	"github.com/kvmrelay/kvmrelay/internal/cli"
)

const envPrefix = "AMTSIM_"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "amtsim: %v\n", err)
		os.Exit(2)
	}
}

const usage = `Usage: amtsim mps|device [flags]   (tests and demos only; -h for a command's flags)`

func run(ctx context.Context, args []string, out io.Writer, env func(string) string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch args[0] {
	case "mps":
		return runMPS(ctx, args[1:], out, env, log)
	case "device":
		return runDevice(ctx, args[1:], env, log)
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

// secret reads a password the simulator needs from its environment.
func secret(env func(string) string, name string) (string, error) {
	v := env(name)
	if v == "" {
		return "", fmt.Errorf("set %s (passwords never go on the command line)", name)
	}
	return v, nil
}

type deviceFlags []string

func (d *deviceFlags) String() string     { return strings.Join(*d, ",") }
func (d *deviceFlags) Set(v string) error { *d = append(*d, v); return nil }

func runMPS(ctx context.Context, args []string, out io.Writer, env func(string) string, log *slog.Logger) error {
	fs := flag.NewFlagSet("amtsim mps", flag.ContinueOnError)
	ciraListen := fs.String("cira-listen", "127.0.0.1:4433", "where AMT machines connect (CIRA over TLS)")
	listen := fs.String("listen", "127.0.0.1:3000", "REST API and relay WebSocket")
	webUser := fs.String("web-user", "admin", "the REST API's user (password: AMTSIM_MPS_PASSWORD)")
	useTLS := fs.Bool("tls", false, "serve the REST API over HTTPS with the simulator's certificate")
	caOut := fs.String("ca-out", "", "write the simulator's certificate here (for kvmagent --mps-ca)")
	binary := fs.Bool("binary-frames", false, "relay device bytes as BINARY frames instead of MPS's TEXT frames")
	var devices deviceFlags
	fs.Var(&devices, "device", "a machine MPS has a record of: GUID:MPS-USER (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cli.ApplyEnv(fs, envPrefix); err != nil {
		return err
	}
	mpsPassword, err := secret(env, "AMTSIM_MPS_PASSWORD")
	if err != nil {
		return err
	}
	amtPassword, err := secret(env, "AMTSIM_AMT_PASSWORD")
	if err != nil {
		return err
	}
	var records []fakemps.Record
	for _, d := range devices {
		guid, user, ok := strings.Cut(d, ":")
		if !ok || user == "" {
			return fmt.Errorf("--device %q: want GUID:MPS-USER", d)
		}
		records = append(records, fakemps.Record{Info: fakemps.DeviceInfo{GUID: strings.ToLower(guid), Hostname: "amt-" + guid[:min(8, len(guid))], MPSUsername: user},
			MPSPassword: mpsPassword, AMTPassword: amtPassword})
	}
	m, err := amtsim.StartMPS(amtsim.MPSConfig{CIRAListen: *ciraListen, Listen: *listen, WebUser: *webUser, WebPassword: mpsPassword,
		TLS: *useTLS, Devices: records, BinaryFrames: *binary, Logger: log})
	if err != nil {
		return err
	}
	defer m.Close()
	if *caOut != "" {
		if err := os.WriteFile(*caOut, m.CACertPEM, 0o644); err != nil {
			return fmt.Errorf("--ca-out: %w", err)
		}
	}
	fmt.Fprintf(out, "amtsim: fake MPS (tests and demos only): CIRA on %s, web on %s, %d device record(s)\n", m.CIRAAddr(), m.URL(), len(records))
	<-ctx.Done()
	return nil
}

func runDevice(ctx context.Context, args []string, env func(string) string, log *slog.Logger) error {
	fs := flag.NewFlagSet("amtsim device", flag.ContinueOnError)
	ciraAddr := fs.String("cira", "127.0.0.1:4433", "the MPS's CIRA address (empty: no MPS, with --direct-listen)")
	guid := fs.String("guid", "", "the machine's GUID (8-4-4-4-12 hex)")
	mpsUser := fs.String("mps-user", "", "the machine's MPS user name (password: AMTSIM_MPS_PASSWORD)")
	vnc := fs.String("vnc", "", "the VNC server whose screen the machine shows, HOST:PORT (x11vnc, QEMU -vnc)")
	ciraCA := fs.String("cira-ca", "", "PEM file of the MPS's certificate (amtsim mps --ca-out); empty accepts any, as a test tool")
	consent := fs.String("consent", "none", "user consent: none, kvm or all")
	screens := fs.Int("screens", 1, "number of displays (1–4)")
	power := fs.String("power", "on", "initial power: on or off")
	busy := fs.Bool("fault-busy", false, "answer KVM redirection with BUSY")
	dropInit := fs.Bool("fault-drop-after-serverinit", false, "end each RFB session right after ServerInit")
	inactivity := fs.Duration("fault-inactivity", 0, "end an RFB session without input for this long")
	closeAfter := fs.Duration("fault-close-after", 0, "close each KVM channel from the device this long after it started")
	maxFB := fs.Int("fault-max-framebuffer", 0, "refuse framebuffers over this many bytes (0: AMT's 9,216,000)")
	direct := fs.String("direct-listen", "", "also serve AMT's redirection and WS-Man ports for amt:// (no MPS), e.g. 127.0.0.1:0 (two ports, printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cli.ApplyEnv(fs, envPrefix); err != nil {
		return err
	}
	if *guid == "" || *vnc == "" || (*mpsUser == "" && *ciraAddr != "") {
		return errors.New("--guid, --vnc and (with --cira) --mps-user are required")
	}
	mpsPassword, err := secret(env, "AMTSIM_MPS_PASSWORD")
	if err != nil {
		return err
	}
	amtPassword, err := secret(env, "AMTSIM_AMT_PASSWORD")
	if err != nil {
		return err
	}
	mode, err := firmware.ParseConsentMode(*consent)
	if err != nil {
		return err
	}
	initial := wsman.PowerOn
	switch *power {
	case "on":
	case "off":
		initial = wsman.PowerOffSoft
	default:
		return fmt.Errorf("--power %q: want on or off", *power)
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // a test tool; --cira-ca checks
	if *ciraCA != "" {
		b, err := os.ReadFile(*ciraCA)
		if err != nil {
			return fmt.Errorf("--cira-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("--cira-ca %s: no PEM certificate", *ciraCA)
		}
		tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	m, err := amtsim.StartMachine(amtsim.MachineConfig{GUID: *guid, MPSUser: *mpsUser, MPSPassword: mpsPassword, AMTPassword: amtPassword,
		VNC: *vnc, Management: firmware.ManagementConfig{Power: initial, Consent: mode, Screens: *screens, Width: 1024, Height: 768},
		Faults:       firmware.Faults{Busy: *busy, DropAfterServerInit: *dropInit, InactivityTimeout: *inactivity, CloseAfter: *closeAfter, MaxFramebufferBytes: *maxFB},
		DirectListen: *direct, Logger: log}, *ciraAddr, tlsCfg)
	if err != nil {
		return err
	}
	defer m.Close()
	if *direct != "" {
		redir, ws := m.DirectAddrs()
		log.Info("amtsim: AMT's ports served directly", "redirection", redir, "wsman", ws)
	}
	log.Info("amtsim: simulated AMT machine running (tests and demos only)", "guid", *guid, "mps", *ciraAddr, "vnc", *vnc)
	<-ctx.Done()
	return nil
}
