package firmware

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/amt/cira"
	"github.com/kvmrelay/kvmrelay/amt/redir"
	"github.com/kvmrelay/kvmrelay/amt/wsman"
	"github.com/kvmrelay/kvmrelay/internal/amtsim/amtrfb"
)

// Ports of AMT served over CIRA channels.
const (
	PortWSMan       = 16992
	PortRedirection = 16994
)

// Faults the simulator injects, one flag each.
type Faults struct {
	// Busy answers every KVM redirection start with BUSY.
	Busy bool
	// DropAfterServerInit ends each RFB session right after ServerInit.
	DropAfterServerInit bool
	// InactivityTimeout ends an RFB session without input for this long (AMT's
	// SessionTimeout); 0 is never.
	InactivityTimeout time.Duration
	// CloseAfter closes each KVM channel from the device side this long after it started.
	CloseAfter time.Duration
	// MaxFramebufferBytes overrides AMT's oversize limit (0: AMT's; negative: none).
	MaxFramebufferBytes int
}

// Config sets up one simulated AMT machine.
type Config struct {
	// GUID identifies the machine to MPS.
	GUID apf.GUID
	// MPSUser and MPSPassword are its CIRA login (MPS's device record).
	MPSUser, MPSPassword string
	// AMTUser ("admin" when empty) and AMTPassword guard redirection and WS-Man.
	AMTUser, AMTPassword string
	// Screen is the machine's picture and input (a VNC server's, through amtrfb.VNCScreen).
	Screen amtrfb.Screen
	// Management is the machine's power, consent and screens; NewManagement's defaults when
	// nil.
	Management *Management
	Faults     Faults
	// RawDeflate, ZlibOff shape encoding 16 (see amtrfb.Config).
	RawDeflate, ZlibOff bool
	Logger              *slog.Logger
}

// Firmware is one simulated AMT machine's firmware.
type Firmware struct {
	cfg   Config
	log   *slog.Logger
	mgmt  *Management
	wsman *wsman.Server

	mu     sync.Mutex
	client *cira.Client
}

// New makes a firmware; Run connects it.
func New(cfg Config) (*Firmware, error) {
	if cfg.AMTUser == "" {
		cfg.AMTUser = "admin"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Screen == nil {
		return nil, errors.New("amtsim: a screen is needed (--vnc HOST:PORT)")
	}
	if cfg.Management == nil {
		cfg.Management = NewManagement(ManagementConfig{Logger: cfg.Logger})
	}
	ws, err := wsman.NewServer(cfg.Management, cfg.AMTUser, cfg.AMTPassword, "Digest:"+cfg.GUID.String(), wsman.WithLogger(cfg.Logger.With("component", "wsman")))
	if err != nil {
		return nil, fmt.Errorf("amtsim: %w", err)
	}
	return &Firmware{cfg: cfg, log: cfg.Logger, mgmt: cfg.Management, wsman: ws}, nil
}

// Management is the machine's state, for tests.
func (f *Firmware) Management() *Management { return f.mgmt }

// Run dials the MPS's CIRA port at addr over TLS and serves it until ctx ends or the link
// fails; the caller decides whether to dial again.
func (f *Firmware) Run(ctx context.Context, addr string, tlsConfig *tls.Config) error {
	client, err := cira.Dial(ctx, addr, tlsConfig, cira.ClientConfig{
		GUID: f.cfg.GUID, User: f.cfg.MPSUser, Password: f.cfg.MPSPassword,
		Accept: func(port uint16, ch net.Conn) { f.serveChannel(ctx, port, ch) },
		Logger: f.log.With("component", "cira"),
	})
	if err != nil {
		return fmt.Errorf("amtsim: connect to MPS at %s: %w", addr, err)
	}
	f.mu.Lock()
	f.client = client
	f.mu.Unlock()
	f.log.Info("amtsim: CIRA link to MPS", "mps", addr, "guid", f.cfg.GUID.String())
	return client.Run(ctx)
}

// Drop cuts the CIRA link abruptly, as a machine losing its network (a fault).
func (f *Firmware) Drop() {
	f.mu.Lock()
	c := f.client
	f.mu.Unlock()
	if c != nil {
		c.Drop()
	}
}

func (f *Firmware) serveChannel(ctx context.Context, port uint16, ch net.Conn) {
	defer ch.Close()
	var err error
	switch port {
	case PortWSMan:
		err = f.wsman.Serve(ctx, ch)
	case PortRedirection:
		err = f.serveKVM(ctx, ch)
	default:
		f.log.Debug("amtsim: channel to a port without service", "port", port)
		return
	}
	if err != nil && ctx.Err() == nil {
		f.log.Info("amtsim: channel ended", "port", port, "err", err)
	}
}

// serveKVM runs the redirection protocol, then RFB as AMT speaks it.
func (f *Firmware) serveKVM(ctx context.Context, ch net.Conn) error {
	status := byte(redir.StatusSuccess)
	if f.cfg.Faults.Busy {
		status = redir.StatusBusy
	}
	if err := redir.Serve(ctx, ch, redir.ServerConfig{User: f.cfg.AMTUser, Password: f.cfg.AMTPassword,
		Status: status, Logger: f.log.With("component", "redirection")}); err != nil {
		return fmt.Errorf("redirection: %w", err)
	}
	if err := f.mgmt.admitKVM(); err != nil {
		return err
	}
	defer f.mgmt.endKVM()
	if f.cfg.Faults.CloseAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.cfg.Faults.CloseAfter)
		defer cancel()
	}
	f.log.Info("amtsim: KVM session started")
	err := amtrfb.Serve(ctx, ch, f.cfg.Screen, amtrfb.Config{
		DropAfterServerInit: f.cfg.Faults.DropAfterServerInit,
		InactivityTimeout:   f.cfg.Faults.InactivityTimeout,
		MaxFramebufferBytes: f.cfg.Faults.MaxFramebufferBytes,
		RawDeflate:          f.cfg.RawDeflate,
		ZlibOff:             f.cfg.ZlibOff,
		Overlay:             f.overlay,
		Logger:              f.log.With("component", "rfb"),
	})
	f.log.Info("amtsim: KVM session ended", "err", err)
	return err
}

// overlay draws what AMT draws over the picture during a session: a red border (the user
// knows someone is connected).
func (f *Firmware) overlay(img *image.RGBA) {
	b := img.Bounds()
	red := [4]byte{0xE0, 0x20, 0x20, 0xFF}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if y-b.Min.Y < 3 || b.Max.Y-y <= 3 || x-b.Min.X < 3 || b.Max.X-x <= 3 {
				i := img.PixOffset(x, y)
				copy(img.Pix[i:i+4], red[:])
			}
		}
	}
}

// ServeDirect serves AMT's own ports on the LAN, as a machine reached without MPS: the
// redirection protocol on redirection (16994) and WS-Man on management (16992), until ctx
// ends. It closes both listeners when it returns.
func (f *Firmware) ServeDirect(ctx context.Context, redirection, management net.Listener) error {
	var wg sync.WaitGroup
	serve := func(ln net.Listener, port uint16) {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.serveChannel(ctx, port, conn) })
		}
	}
	wg.Add(2)
	go serve(redirection, PortRedirection)
	go serve(management, PortWSMan)
	<-ctx.Done()
	_ = redirection.Close()
	_ = management.Close()
	wg.Wait()
	return nil
}
