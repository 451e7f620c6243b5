package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/passthrough"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

// Schemes of RTSP specs.
const (
	Scheme    = "rtsp"
	SchemeTLS = "rtsps"
)

// PasswordVar names the secret holding the password when the spec names a user without one.
const PasswordVar = "KVMAGENT_RTSP_PASSWORD"

// Errors Open returns that callers may check.
var (
	ErrUnauthorized = errors.New("rtsp: unauthorized")
	ErrNoH264       = errors.New("rtsp: no H.264 video in the stream")
)

// Config configures a Source; NewSource fills it from a spec.
type Config struct {
	// URL is the stream's rtsp(s) URL with any user info, without kvmrelay's own parameters.
	URL *url.URL
	// UDP asks for RTP over UDP instead of interleaved in the TCP connection.
	UDP bool
	// DialTimeout bounds connecting and each RTSP request; 0 means 10 s. It is also how long
	// the stream may send nothing before it counts as lost.
	DialTimeout time.Duration
	// TLS is the client configuration for rtsps (tests trust their own CA); nil is the default.
	TLS *tls.Config
	// Video configures each connection's queue.
	Video  passthrough.Config
	Logger *slog.Logger
}

// Source is an RTSP stream; each Open is a new RTSP session.
type Source struct{ cfg Config }

// NewSource is the device.SourceFactory for rtsp://[USER[:PASSWORD]@]HOST[:PORT]/PATH and
// rtsps://…. The query parameter transport=udp|tcp (default tcp) is kvmrelay's and not sent;
// other parameters are the camera's and are.
func NewSource(spec *url.URL, opts device.Options) (device.Source, error) {
	if spec.Scheme != Scheme && spec.Scheme != SchemeTLS {
		return nil, fmt.Errorf("rtsp: scheme %q: want rtsp:// or rtsps://", spec.Scheme)
	}
	if spec.Host == "" || spec.Opaque != "" {
		return nil, errors.New("rtsp: want rtsp://[USER@]HOST[:PORT]/PATH, like rtsp://admin@camera/stream1")
	}
	u := *spec
	u.Fragment, u.RawFragment = "", ""
	q := u.Query()
	cfg := Config{URL: &u, DialTimeout: opts.DialTimeout, Logger: opts.Logger}
	switch t := strings.ToLower(q.Get("transport")); t {
	case "", "tcp":
	case "udp":
		if u.Scheme == SchemeTLS {
			return nil, errors.New("rtsp: rtsps carries RTP over TCP only; drop transport=udp")
		}
		cfg.UDP = true
	default:
		return nil, fmt.Errorf("rtsp: transport=%s: want tcp or udp", t)
	}
	if q.Has("transport") {
		q.Del("transport")
		u.RawQuery = q.Encode()
	}
	device.FillPassword(&u, opts, PasswordVar)
	return New(cfg), nil
}

// New returns a Source for cfg.
func New(cfg Config) *Source {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Source{cfg: cfg}
}

// String names the stream without its password.
func (s *Source) String() string {
	u := *s.cfg.URL
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if s.cfg.UDP {
		q := u.Query()
		q.Set("transport", "udp")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Codec is H.264: the agent offers it before the first connection (device.Encoded).
func (s *Source) Codec() media.Codec { return media.CodecH264 }

// Open runs DESCRIBE, SETUP and PLAY and returns once the server plays.
func (s *Source) Open(ctx context.Context) (device.Conn, error) {
	log := s.cfg.Logger.With("source", s.String())
	var lost atomic.Bool
	proto := gortsplib.ProtocolTCP
	if s.cfg.UDP {
		proto = gortsplib.ProtocolUDP
	}
	c := &gortsplib.Client{
		Scheme:       s.cfg.URL.Scheme,
		Host:         s.cfg.URL.Host,
		Protocol:     &proto,
		ReadTimeout:  s.cfg.DialTimeout,
		WriteTimeout: s.cfg.DialTimeout,
		TLSConfig:    s.cfg.TLS,
		UserAgent:    "kvmagent",
		DialContext:  (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext,
		OnPacketsLost: func(n uint64) {
			lost.Store(true)
			log.Debug("rtp packets lost", "count", n)
		},
		OnDecodeError: func(err error) { log.Debug("rtp decode error", "err", err) },
		OnTransportSwitch: func(err error) {
			log.Info("rtsp transport switched", "reason", err)
		},
	}
	if err := c.Start(); err != nil {
		return device.Conn{}, fmt.Errorf("rtsp: %s: %w", s, err)
	}
	// Requests block up to the read timeout; ending ctx ends them at once.
	stop := context.AfterFunc(ctx, c.Close)
	fail := func(err error) (device.Conn, error) {
		stop()
		c.Close()
		if ctx.Err() != nil {
			return device.Conn{}, ctx.Err()
		}
		return device.Conn{}, err
	}
	u, err := base.ParseURL(s.cfg.URL.String())
	if err != nil {
		return fail(fmt.Errorf("rtsp: %s: %w", s, err))
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		return fail(s.describeError(err))
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return fail(fmt.Errorf("%w: %s offers %s: set the camera's video codec to H.264", ErrNoH264, s, formats(desc)))
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return fail(fmt.Errorf("rtsp: %s: %w", s, err))
	}
	fwd := &passthrough.Forwarder{}
	vcfg := s.cfg.Video
	vcfg.Logger = log
	if forma.SPS != nil {
		if sps, err := h264.ParseSPS(forma.SPS); err == nil {
			vcfg.SPS = &sps
		}
		// Parameter sets that do not parse are left out: the stream may carry good ones.
		if err := fwd.Gate.SetParameterSets(forma.SPS); err != nil {
			log.Warn("ignoring the SDP's SPS", "err", err)
		}
	}
	if forma.PPS != nil {
		if err := fwd.Gate.SetParameterSets(forma.PPS); err != nil {
			log.Warn("ignoring the SDP's PPS", "err", err)
		}
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fail(fmt.Errorf("rtsp: %s: setup: %w", s, err))
	}

	var ssrc atomic.Uint32
	var hasSSRC atomic.Bool
	vcfg.RequestKeyframe = func() {
		if !hasSSRC.Load() {
			return
		}
		// RTSP has no keyframe request of its own; servers that read RTCP may honour a PLI.
		if err := c.WritePacketRTCP(medi, &rtcp.PictureLossIndication{MediaSSRC: ssrc.Load()}); err != nil {
			log.Debug("rtcp pli", "err", err)
		}
	}
	fatal := make(chan error, 1)
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if !hasSSRC.Load() {
			ssrc.Store(pkt.SSRC)
			hasSSRC.Store(true)
		}
		if lost.Swap(false) {
			fwd.Lost()
		}
		au, err := dec.Decode(pkt)
		switch {
		case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
			return
		case err != nil:
			log.Debug("rtp h264 depacketize", "err", err)
			fwd.Lost()
			return
		}
		if err := fwd.Forward(au, time.Now()); err != nil {
			select {
			case fatal <- err:
			default:
			}
		}
	})
	v := passthrough.Start(vcfg, func(ctx context.Context, v *passthrough.Video) error {
		ended := make(chan error, 1)
		go func() { ended <- c.Wait() }()
		defer func() { c.Close(); <-ended }()
		select {
		case <-ctx.Done():
			return nil
		case err := <-fatal:
			return err
		case err := <-ended:
			ended <- err
			return fmt.Errorf("rtsp: %s: %w", s, err)
		}
	})
	fwd.Video = v
	if _, err := c.Play(nil); err != nil {
		stop()
		_ = v.Close()
		if ctx.Err() != nil {
			return device.Conn{}, ctx.Err()
		}
		return device.Conn{}, fmt.Errorf("rtsp: %s: play: %w", s, err)
	}
	if !stop() {
		_ = v.Close()
		return device.Conn{}, ctx.Err()
	}
	return device.Conn{Video: v}, nil
}

func (s *Source) describeError(err error) error {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		switch bad.Code {
		case base.StatusUnauthorized, base.StatusForbidden:
			what := "no user and password given: put the user in the URL (rtsp://USER@host/…) and the password in " + PasswordVar
			if s.cfg.URL.User != nil {
				what = "wrong user or password (user in the URL, password in " + PasswordVar + ")"
			}
			return fmt.Errorf("%w: %s answered %d: %s", ErrUnauthorized, s, bad.Code, what)
		case base.StatusNotFound:
			return fmt.Errorf("rtsp: %s answered 404: check the stream path (the camera's manual names it)", s)
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("rtsp: cannot reach %s (%v): check the host and port (RTSP's default is 554)", s.cfg.URL.Host, opErr.Err)
	}
	return fmt.Errorf("rtsp: %s: describe: %w", s, err)
}

func formats(desc *description.Session) string {
	var names []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			names = append(names, f.Codec())
		}
	}
	if len(names) == 0 {
		return "no media"
	}
	return strings.Join(names, ", ")
}
