// Command benchturn runs kvmrelay's embedded TURN server alone on loopback, for
// scripts/bench-turn to load with coturn's turnutils_uclient next to coturn's turnserver. It
// relays to loopback peers only (AllowPeers 127.0.0.0/8, every other address denied), prints
// "benchturn pid=PID udp=ADDR" once it listens, and on SIGINT/SIGTERM prints its relay
// counters and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvmrelay/kvmrelay/turn"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "benchturn: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:3478", "UDP and TCP listen address (loopback only)")
	secret := flag.String("secret", "", "TURN REST shared secret (use-auth-secret), at least 16 bytes")
	realm := flag.String("realm", "kvmrelay", "STUN realm")
	relayPorts := flag.String("relay-ports", "", "relay port range MIN-MAX (default: ephemeral)")
	sockets := flag.Int("udp-sockets", 0, "UDP sockets sharing the port (0: one per CPU)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	verbose := flag.Bool("v", false, "log at debug level")
	flag.Parse()

	cfg, err := config(*listen, *secret, *realm, *relayPorts, *sockets)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := turn.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("benchturn pid=%d udp=%s\n", os.Getpid(), s.UDPAddr())
	<-ctx.Done()
	printCounters(reg) // before Close, which unregisters the metrics
	return s.Close()
}

func config(listen, secret, realm, relayPorts string, sockets int) (turn.Config, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return turn.Config{}, fmt.Errorf("-listen %q: %w", listen, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return turn.Config{}, fmt.Errorf("-listen %q: a loopback address only", listen)
	}
	if len(secret) < turn.MinSecretLen {
		return turn.Config{}, fmt.Errorf("-secret: at least %d bytes", turn.MinSecretLen)
	}
	cfg := turn.Config{
		ListenAddr: listen,
		Realm:      realm,
		Secrets:    [][]byte{[]byte(secret)},
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		DenyPeers:  notLoopback(),
		UDPSockets: sockets,
		// A benchmark opens many allocations for one user.
		QuotaPerUser: 100000,
		QuotaTotal:   100000,
	}
	if relayPorts != "" {
		lo, hi, ok := strings.Cut(relayPorts, "-")
		first, err1 := strconv.ParseUint(lo, 10, 16)
		last, err2 := strconv.ParseUint(hi, 10, 16)
		if !ok || errors.Join(err1, err2) != nil {
			return turn.Config{}, fmt.Errorf("-relay-ports %q: want MIN-MAX", relayPorts)
		}
		cfg.RelayPortMin, cfg.RelayPortMax = uint16(first), uint16(last)
	}
	return cfg, nil
}

// notLoopback is every address but 127.0.0.0/8: all of IPv6 and the IPv4 prefixes around
// 127/8. DenyPeers beats AllowPeers and applies to embedded IPv4 too, so the benchmark server
// can relay to loopback and nowhere else, whatever a client asks.
func notLoopback() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6", "124.0.0.0/7",
		"126.0.0.0/8", "128.0.0.0/1", "::/0",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// printCounters prints the relay counters ("name{labels} value" lines).
func printCounters(reg *prometheus.Registry) {
	families, err := reg.Gather()
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchturn: gather metrics: %v\n", err)
		return
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "kvmrelay_turn_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			fmt.Printf("%s{%s} %g\n", f.GetName(), strings.Join(labels, ","), v)
		}
	}
}
