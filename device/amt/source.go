package amt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/amt/redir"
	"github.com/kvmrelay/kvmrelay/amt/wsman"
	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/vnc"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// Defaults of a Source's timing.
const (
	// DefaultLinger keeps a connection this long after the last console left, so a console
	// reopened at once (a reload) finds it and no new consent is asked.
	DefaultLinger = 30 * time.Second
	// DefaultKeepAlive is how often the KVM data channel keep-alive goes to AMT; AMT's own
	// clients send one when 5 s passed since the last.
	DefaultKeepAlive = 4 * time.Second
	// DefaultSilence is how long without a byte from AMT before the link counts as dropped
	// (AMT answers every keep-alive).
	DefaultSilence = 15 * time.Second
	// DefaultConsentWindow is how long AMT shows a consent code (about 300 s).
	DefaultConsentWindow = 300 * time.Second
)

// ErrPoweredOff is why a connection was not attempted: the machine is off (AMT reports a
// power state other than on). It is device.ErrPoweredOff.
var ErrPoweredOff = device.ErrPoweredOff

// ErrConsentNeedsConsole is returned when AMT asks for user consent and nothing can ask a
// person for the code.
var ErrConsentNeedsConsole = errors.New("AMT requires user consent, and this agent has no console to ask for the code")

// Source is one AMT machine a spec names.
type Source struct {
	spec spec
	opts device.Options
	// refused16: AMT refused a 16 bpp session (auto depth then asks 8). display is the
	// screen chosen (the spec's, then a console's; -1: AMT's default).
	mu        sync.Mutex
	refused16 bool
	display   int
	log       *slog.Logger
	password  string // MPS's (via MPS) or AMT's (direct)
	mps       *mps.Client
	mgmt      management

	// Timing; zero takes the defaults above.
	LingerAfter   time.Duration
	KeepAlive     time.Duration
	Silence       time.Duration
	ConsentWindow time.Duration
}

// NewSource is the device.SourceFactory of amt+mps://, amt+mps+http:// and amt:// specs.
func NewSource(u *url.URL, opts device.Options) (device.Source, error) {
	sp, err := parseSpec(u)
	if err != nil {
		return nil, err
	}
	if sp.viaMPS && sp.guid == "" {
		return nil, fmt.Errorf("%s: no device GUID; %s (without one, kvmagent serves every machine of the MPS as a gateway)", u.Scheme, helpMPS)
	}
	opts = opts.WithDefaults()
	password, err := lookupPassword(sp, opts)
	if err != nil {
		return nil, err
	}
	if sp.viaMPS {
		client, err := newMPSClient(sp, password, opts)
		if err != nil {
			return nil, err
		}
		return newMPSSource(sp, opts, password, client), nil
	}
	m := newDirect(sp.addr, sp.user, password)
	if sp.wsmanPort > 0 {
		m.addr = net.JoinHostPort(m.host, strconv.Itoa(sp.wsmanPort))
	}
	return &Source{spec: sp, opts: opts, log: opts.Logger.With("source", sp.String()), display: sp.display, password: password, mgmt: m}, nil
}

// lookupPassword finds the MPS's (via MPS) or AMT's (direct) password: never in the spec.
func lookupPassword(sp spec, opts device.Options) (string, error) {
	env := AMTPasswordEnv
	if sp.viaMPS {
		env = MPSPasswordEnv
	}
	var password string
	if opts.Lookup != nil {
		password, _ = opts.Lookup(env)
	}
	if password == "" {
		return "", fmt.Errorf("%s: no password: set %s (or its --…-password-file flag)", sp, env)
	}
	return password, nil
}

// newMPSClient is the REST and relay client of the MPS sp names.
func newMPSClient(sp spec, password string, opts device.Options) (*mps.Client, error) {
	tlsCfg := &tls.Config{RootCAs: opts.TLSRoots, MinVersion: tls.VersionTLS12}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
	c, err := mps.New(mps.Config{BaseURL: sp.base, User: sp.user, Password: password, HTTPClient: hc, TLS: tlsCfg,
		Logger: opts.Logger.With("component", "mps")})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp, err)
	}
	return c, nil
}

// newMPSSource is the machine sp.guid reached through client (a gateway's sources share one).
func newMPSSource(sp spec, opts device.Options, password string, client *mps.Client) *Source {
	return &Source{spec: sp, opts: opts, log: opts.Logger.With("source", sp.String()), display: sp.display,
		password: password, mps: client, mgmt: viaMPS{c: client, guid: sp.guid}}
}

// String names the machine without secrets.
func (s *Source) String() string { return s.spec.String() }

// Linger makes the source connect only while a console watches (device.OnDemand).
func (s *Source) Linger() time.Duration { return or(s.LingerAfter, DefaultLinger) }

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Open checks the machine through MPS (known, linked, powered, free), gets the user's
// consent when AMT asks for it, then opens the KVM redirection and RFB session.
func (s *Source) Open(ctx context.Context) (device.Conn, error) {
	w, h, err := s.prepare(ctx)
	if err != nil {
		return device.Conn{}, err
	}
	var conn net.Conn
	if s.spec.viaMPS {
		conn, err = s.mps.DialKVM(ctx, s.spec.guid)
		if err != nil {
			err = fmt.Errorf("%s: %w", s, err)
		}
	} else {
		conn, err = s.dialDirect(ctx)
	}
	if err != nil {
		return device.Conn{}, err
	}
	c, err := s.start(ctx, conn, w, h)
	if err != nil {
		_ = conn.Close()
		return device.Conn{}, err
	}
	return c, nil
}

// prepare checks the machine before a KVM session — through MPS: known, CIRA link up, no
// other KVM session; either way: powered on — selects its screen and gets the user's consent
// when AMT asks for it. It returns the size of the screen KVM will show (0×0 when unknown).
func (s *Source) prepare(ctx context.Context) (w, h int, err error) {
	if s.spec.viaMPS {
		dev, err := s.mps.Device(ctx, s.spec.guid)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", s, err)
		}
		if !dev.ConnectionStatus {
			return 0, 0, fmt.Errorf("%s: %w", s, mps.ErrNotConnected)
		}
	}
	power, err := s.mgmt.powerState(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: power state: %w", s, err)
	}
	if power != wsman.PowerOn {
		return 0, 0, fmt.Errorf("%s: %w (AMT power state %d): an operator can power it on from the console's power menu", s, ErrPoweredOff, power)
	}
	if s.spec.viaMPS {
		status, err := s.mps.RedirectStatus(ctx, s.spec.guid)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: redirection status: %w", s, err)
		}
		if status.KVM {
			return 0, 0, fmt.Errorf("%s: %w", s, mps.ErrInUse)
		}
	}
	w, h = s.selectDisplay(ctx)
	if err := s.consent(ctx); err != nil {
		return 0, 0, err
	}
	return w, h, nil
}

// selectDisplay makes the spec's display the one KVM shows, and returns the size of the
// screen KVM will show (0×0 when MPS does not say).
func (s *Source) selectDisplay(ctx context.Context) (w, h int) {
	displays, err := s.mgmt.displays(ctx)
	if err != nil {
		s.log.Info("AMT displays unknown", "err", err)
		return 0, 0
	}
	s.mu.Lock()
	want := s.display
	s.mu.Unlock()
	for _, d := range displays {
		if want >= 0 && d.index == want {
			if err := s.mgmt.setDisplay(ctx, d.index); err != nil {
				s.log.Warn("select AMT display", "display", d.index, "err", err)
				break
			}
			return d.width, d.height
		}
	}
	for _, d := range displays {
		if d.isDefault {
			return d.width, d.height
		}
	}
	return 0, 0
}

// consent asks for and obtains AMT's user consent when it is required.
func (s *Source) consent(ctx context.Context) error {
	displayed, err := s.mgmt.startConsent(ctx)
	if err != nil {
		return fmt.Errorf("%s: user consent: %w", s, err)
	}
	if !displayed {
		return nil
	}
	if s.opts.Consent == nil {
		return fmt.Errorf("%s: %w", s, ErrConsentNeedsConsole)
	}
	s.log.Info("AMT asks for user consent: waiting for the code shown on the machine's screen")
	expires := time.Now().Add(or(s.ConsentWindow, DefaultConsentWindow))
	err = s.opts.Consent.Ask(ctx, expires, func(ctx context.Context, code string) error {
		n, err := strconv.Atoi(code)
		if err != nil {
			return device.ErrBadConsentCode
		}
		return s.mgmt.submitConsent(ctx, n)
	})
	// A code left on the machine's screen after the wait ended (cancelled, too many wrong
	// codes, nobody watching any more) is withdrawn; an expired one is gone already.
	if err != nil && !errors.Is(err, device.ErrConsentExpired) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if cerr := s.mgmt.cancelConsent(cctx); cerr != nil {
			s.log.Warn("cancel the consent request", "err", cerr)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	return nil
}

func (s *Source) dialDirect(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.spec.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot reach AMT's redirection port: %w", s, err)
	}
	return conn, nil
}

// start runs the redirection handshake and RFB over conn and serves it as a device
// connection, with the KVM data channel keep-alive and the silence watchdog.
func (s *Source) start(ctx context.Context, conn net.Conn, screenW, screenH int) (device.Conn, error) {
	watched := watchSilence(conn, or(s.Silence, DefaultSilence))
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg := redir.ClientConfig{ViaMPS: s.spec.viaMPS, Logger: s.log}
	if !s.spec.viaMPS {
		cfg.User, cfg.Password = s.spec.user, s.password
	}
	info, err := redir.Handshake(hctx, watched, cfg)
	if err != nil {
		_ = watched.Close()
		return device.Conn{}, s.explainRedirection(err)
	}
	stop := context.AfterFunc(hctx, func() { _ = watched.SetDeadline(time.Unix(1, 0)) })
	depth := s.depthFor(screenW, screenH)
	client, err := rfb.NewClient(writeDeadline{watched}, s.rfbConfig(depth))
	stop()
	if err != nil {
		_ = watched.Close()
		if depth == Depth16 && s.spec.depth == DepthAuto {
			// AMT closes right after ClientInit when the screen does not fit at 16 bpp
			// (MeshCentral reads it so): the next attempt asks for 8.
			s.mu.Lock()
			s.refused16 = true
			s.mu.Unlock()
			return device.Conn{}, fmt.Errorf("%s: AMT refused the RFB session at 16 bpp (a screen too large for it?); the next attempt uses 8 bpp: %w", s, err)
		}
		if depth == Depth8 && s.spec.depth == DepthAuto {
			return device.Conn{}, fmt.Errorf("%s: AMT refused the RFB session at 8 bpp too: its display buffer cannot hold this screen (lower the machine's resolution); retrying: %w", s, err)
		}
		return device.Conn{}, fmt.Errorf("%s: RFB: %w", s, err)
	}
	_ = watched.SetDeadline(time.Time{})
	watched.sessionStarted()
	// A static screen sends nothing: the watchdog's probe is a one-pixel full update, which
	// RFB servers answer at once.
	watched.setProbe(func() {
		if err := client.RequestUpdate(false, image.Rect(0, 0, 1, 1)); err != nil {
			s.log.Debug("liveness probe not sent", "err", err)
		}
	})
	dc, err := vnc.Attach(client, watched, vnc.AttachConfig{FPS: s.opts.FPS, Logger: s.log})
	if err != nil {
		_ = watched.Close()
		return device.Conn{}, fmt.Errorf("%s: %w", s, err)
	}
	w, h := client.Size()
	s.log.Info("AMT KVM connected", "size", fmt.Sprintf("%dx%d", w, h), "firmware", info.FirmwareVersion,
		"pixel_format", client.ServerPixelFormat().String())
	// The keep-alive ends with the connection: the video's reader ends on Close and on failure.
	if wd, ok := dc.Video.(device.Watched); ok {
		go keepAlive(client, or(s.KeepAlive, DefaultKeepAlive), wd.Done(), s.log)
	}
	return dc, nil
}

// MaxFramebuffer16 is AMT's display buffer limit (bytes per pixel × width × height, as
// MeshCentral checks it): a screen above it at 16 bpp must be served at 8.
const MaxFramebuffer16 = 9_216_000

// depthFor is the pixel depth to ask for a screen of w×h (0: unknown): the spec's, or in
// auto mode 8 bpp when 16 would not fit AMT's buffer, or when a 16 bpp session was refused.
func (s *Source) depthFor(w, h int) Depth {
	if s.spec.depth != DepthAuto {
		return s.spec.depth
	}
	s.mu.Lock()
	refused := s.refused16
	s.mu.Unlock()
	if refused || 2*w*h > MaxFramebuffer16 {
		return Depth8
	}
	return Depth16
}

// rfbConfig is the RFB client as AMT wants it: encoding 16 and RAW, DesktopSize and the KVM
// data channel, 16 or 8 bits per pixel; AMT draws the pointer itself.
func (s *Source) rfbConfig(depth Depth) rfb.Config {
	pf := rfb.PixelFormatRGB565()
	if depth == Depth8 {
		pf = rfb.PixelFormatRGB332()
	}
	cfg := rfb.AMTConfig(pf)
	cfg.PseudoEncodings = append(cfg.PseudoEncodings, rfb.EncodingIntelKvmData)
	return cfg
}

// writeDeadline gives every write to AMT its own deadline.
type writeDeadline struct{ net.Conn }

func (c writeDeadline) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.Conn.Write(b)
}

// keepAlive sends AMT's KVM data channel keep-alive every interval until done closes (the
// connection ended).
func keepAlive(client *rfb.Client, every time.Duration, done <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if err := client.SendKvmData(nil); err != nil {
				log.Debug("KVM data channel keep-alive not sent", "err", err)
				return
			}
		}
	}
}

// explainRedirection words a failed redirection handshake for the operator. Through MPS a
// BUSY or refused start reaches the client as silence or a closed socket (MPS does not pass
// AMT's refusal on), so those say what it most likely was.
func (s *Source) explainRedirection(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: AMT ended the redirection session before it started: it is busy with another KVM session, or KVM redirection is turned off in AMT: %w", s, err)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: AMT did not answer the redirection start (through MPS a busy machine looks like this): %w", s, err)
	}
	return fmt.Errorf("%s: redirection: %w", s, err)
}
