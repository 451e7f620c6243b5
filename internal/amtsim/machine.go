package amtsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/amtrfb"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/firmware"
	"github.com/kvmrelay/kvmrelay/internal/backoff"
)

// MachineConfig sets up one simulated AMT machine.
type MachineConfig struct {
	GUID                 string
	MPSUser, MPSPassword string
	AMTPassword          string
	// VNC is the real VNC server whose screen the machine shows (x11vnc, QEMU -vnc).
	VNC, VNCPassword string
	// Management: power, consent and screens (firmware.ManagementConfig).
	Management firmware.ManagementConfig
	Faults     firmware.Faults
	RawDeflate bool
	// DirectListen, when set ("127.0.0.1:0"), also serves AMT's redirection and WS-Man ports
	// there, as a machine reached without MPS (amt://); DirectAddrs says where.
	DirectListen string
	Logger       *slog.Logger
}

// Machine is a running simulated AMT machine: it keeps its CIRA link to the MPS up, dialing
// again after a drop as AMT does.
type Machine struct {
	fw     *firmware.Firmware
	screen *amtrfb.VNCScreen
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	connected bool
	// redirAddr and wsmanAddr are the direct ports, when served.
	redirAddr, wsmanAddr string
}

// StartMachine connects to the VNC server and starts dialing the MPS at ciraAddr.
func StartMachine(cfg MachineConfig, ciraAddr string, tlsConfig *tls.Config) (*Machine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	guid, err := apf.ParseGUID(cfg.GUID)
	if err != nil {
		return nil, fmt.Errorf("amtsim: --guid: %w", err)
	}
	log := cfg.Logger.With("machine", guid.String())
	ctx, cancel := context.WithCancel(context.Background())
	dialCtx, dialCancel := context.WithTimeout(ctx, 15*time.Second)
	screen, err := amtrfb.DialVNC(dialCtx, cfg.VNC, cfg.VNCPassword)
	dialCancel()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("amtsim: the machine's screen: %w", err)
	}
	if cfg.Management.Logger == nil {
		cfg.Management.Logger = log
	}
	fw, err := firmware.New(firmware.Config{GUID: guid, MPSUser: cfg.MPSUser, MPSPassword: cfg.MPSPassword,
		AMTPassword: cfg.AMTPassword, Screen: screen, Management: firmware.NewManagement(cfg.Management),
		Faults: cfg.Faults, RawDeflate: cfg.RawDeflate, Logger: log})
	if err != nil {
		cancel()
		return nil, err
	}
	m := &Machine{fw: fw, screen: screen, cancel: cancel}
	m.wg.Go(func() {
		if err := screen.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("amtsim: the VNC server's screen ended", "err", err)
		}
	})
	if ciraAddr != "" {
		m.wg.Go(func() { m.keepLinked(ctx, ciraAddr, tlsConfig, log) })
	}
	if cfg.DirectListen != "" {
		redir, err := net.Listen("tcp", cfg.DirectListen)
		if err != nil {
			_ = m.Close()
			return nil, fmt.Errorf("amtsim: the redirection port: %w", err)
		}
		ws, err := net.Listen("tcp", cfg.DirectListen)
		if err != nil {
			_ = redir.Close()
			_ = m.Close()
			return nil, fmt.Errorf("amtsim: the WS-Man port: %w", err)
		}
		m.redirAddr, m.wsmanAddr = redir.Addr().String(), ws.Addr().String()
		m.wg.Go(func() { _ = fw.ServeDirect(ctx, redir, ws) })
	}
	return m, nil
}

// DirectAddrs are the redirection and WS-Man addresses of a machine served directly.
func (m *Machine) DirectAddrs() (redirection, wsman string) { return m.redirAddr, m.wsmanAddr }

// keepLinked runs the CIRA link, dialing again with backoff after it ends.
func (m *Machine) keepLinked(ctx context.Context, addr string, tlsConfig *tls.Config, log *slog.Logger) {
	b := backoff.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		m.setConnected(true)
		err := m.fw.Run(ctx, addr, tlsConfig)
		m.setConnected(false)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, context.Canceled) {
			return
		}
		wait := b.Next()
		log.Info("amtsim: CIRA link ended; dialing MPS again", "err", err, "in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (m *Machine) setConnected(v bool) {
	m.mu.Lock()
	m.connected = v
	m.mu.Unlock()
}

// Management is the machine's power, consent and screens (to read the consent code in tests).
func (m *Machine) Management() *firmware.Management { return m.fw.Management() }

// Drop cuts the CIRA link abruptly (the machine lost its network); it dials again.
func (m *Machine) Drop() { m.fw.Drop() }

// Close stops the machine.
func (m *Machine) Close() error {
	m.cancel()
	m.wg.Wait()
	return nil
}
