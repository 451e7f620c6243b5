package amt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/amt/redir"
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
// power state other than on).
var ErrPoweredOff = errors.New("the machine is powered off")

// ErrConsentNeedsConsole is returned when AMT asks for user consent and nothing can ask a
// person for the code.
var ErrConsentNeedsConsole = errors.New("AMT requires user consent, and this agent has no console to ask for the code")

// Source is one AMT machine a spec names.
type Source struct {
	spec     spec
	opts     device.Options
	log      *slog.Logger
	password string // MPS's (via MPS) or AMT's (direct)
	mps      *mps.Client

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
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	s := &Source{spec: sp, opts: opts, log: opts.Logger.With("source", sp.String())}
	env := AMTPasswordEnv
	if sp.viaMPS {
		env = MPSPasswordEnv
	}
	if opts.Lookup != nil {
		s.password, _ = opts.Lookup(env)
	}
	if s.password == "" {
		return nil, fmt.Errorf("%s: no password: set %s (or its --…-password-file flag)", sp, env)
	}
	if sp.viaMPS {
		tlsCfg := &tls.Config{RootCAs: opts.TLSRoots, MinVersion: tls.VersionTLS12}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
		s.mps, err = mps.New(mps.Config{BaseURL: sp.base, User: sp.user, Password: s.password, HTTPClient: hc, TLS: tlsCfg,
			Logger: opts.Logger.With("component", "mps")})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sp, err)
		}
	}
	return s, nil
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
	var conn net.Conn
	var err error
	if s.spec.viaMPS {
		conn, err = s.openViaMPS(ctx)
	} else {
		conn, err = s.dialDirect(ctx)
	}
	if err != nil {
		return device.Conn{}, err
	}
	c, err := s.start(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return device.Conn{}, err
	}
	return c, nil
}

func (s *Source) openViaMPS(ctx context.Context) (net.Conn, error) {
	guid := s.spec.guid
	dev, err := s.mps.Device(ctx, guid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	if !dev.ConnectionStatus {
		return nil, fmt.Errorf("%s: %w", s, mps.ErrNotConnected)
	}
	power, err := s.mps.PowerState(ctx, guid)
	if err != nil {
		return nil, fmt.Errorf("%s: power state: %w", s, err)
	}
	if power != mps.PowerOn {
		return nil, fmt.Errorf("%s: %w (AMT power state %d): an operator can power it on from the console", s, ErrPoweredOff, power)
	}
	status, err := s.mps.RedirectStatus(ctx, guid)
	if err != nil {
		return nil, fmt.Errorf("%s: redirection status: %w", s, err)
	}
	if status.KVM {
		return nil, fmt.Errorf("%s: %w", s, mps.ErrInUse)
	}
	if s.spec.display >= 0 {
		if err := s.mps.SetDisplay(ctx, guid, s.spec.display); err != nil {
			return nil, fmt.Errorf("%s: select display %d: %w", s, s.spec.display, err)
		}
	}
	if err := s.consent(ctx); err != nil {
		return nil, err
	}
	conn, err := s.mps.DialKVM(ctx, guid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return conn, nil
}

// consent asks for and obtains AMT's user consent when it is required.
func (s *Source) consent(ctx context.Context) error {
	step, err := s.mps.StartConsent(ctx, s.spec.guid)
	if err != nil {
		return fmt.Errorf("%s: user consent: %w", s, err)
	}
	if step != mps.ConsentCodeDisplayed {
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
		err = s.mps.SubmitConsentCode(ctx, s.spec.guid, n)
		if errors.Is(err, mps.ErrConsent) {
			return errors.New("wrong code")
		}
		return err
	})
	if errors.Is(err, device.ErrConsentCancelled) {
		if cerr := s.mps.CancelConsent(context.WithoutCancel(ctx), s.spec.guid); cerr != nil {
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
func (s *Source) start(ctx context.Context, conn net.Conn) (device.Conn, error) {
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
		return device.Conn{}, fmt.Errorf("%s: redirection: %w", s, err)
	}
	stop := context.AfterFunc(hctx, func() { _ = watched.SetDeadline(time.Unix(1, 0)) })
	client, err := rfb.NewClient(writeDeadline{watched}, s.rfbConfig())
	stop()
	if err != nil {
		_ = watched.Close()
		return device.Conn{}, fmt.Errorf("%s: RFB: %w", s, err)
	}
	_ = watched.SetDeadline(time.Time{})
	dc, err := vnc.Attach(client, watched, vnc.AttachConfig{FPS: s.opts.FPS, Logger: s.log})
	if err != nil {
		_ = watched.Close()
		return device.Conn{}, fmt.Errorf("%s: %w", s, err)
	}
	w, h := client.Size()
	s.log.Info("AMT KVM connected", "size", fmt.Sprintf("%dx%d", w, h), "firmware", info.FirmwareVersion,
		"pixel_format", client.ServerPixelFormat().String())
	// The keep-alive ends with the connection: the video's reader ends on Close and on failure.
	if w, ok := dc.Video.(device.Watched); ok {
		go keepAlive(client, or(s.KeepAlive, DefaultKeepAlive), w.Done(), s.log)
	}
	return dc, nil
}

// rfbConfig is the RFB client as AMT wants it: RAW must be offered, and AMT speaks 16 or 8
// bits per pixel; the server draws the pointer.
func (s *Source) rfbConfig() rfb.Config {
	pf := rfb.PixelFormatRGB565()
	if s.spec.depth == Depth8 {
		pf = rfb.PixelFormatRGB332()
	}
	return rfb.Config{PixelFormat: &pf, Decoders: amtDecoders(), NoCursor: true, Exclusive: false}
}

// writeDeadline gives every write to AMT its own deadline.
type writeDeadline struct{ net.Conn }

func (c writeDeadline) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.Conn.Write(b)
}

// kvmDataChannel is the empty KVM data channel message, AMT's keep-alive, in client cut text.
const kvmDataChannel = "\x00KvmDataChannel\x00"

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
			if err := client.CutText(kvmDataChannel); err != nil {
				log.Debug("KVM data channel keep-alive not sent", "err", err)
				return
			}
		}
	}
}
