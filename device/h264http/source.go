package h264http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/passthrough"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

// Schemes of H.264-over-HTTP specs.
const (
	SchemeHTTP  = "h264+http"
	SchemeHTTPS = "h264+https"
)

// PasswordVar names the secret holding the basic-auth password when the spec names a user
// without one.
const PasswordVar = "KVMAGENT_H264_PASSWORD"

// DefaultStallTimeout is how long the stream may send nothing before it counts as lost.
const DefaultStallTimeout = 10 * time.Second

// maxLeadingGarbage is how many bytes may come before the first start code: more, and the URL
// does not serve an H.264 byte stream.
const maxLeadingGarbage = 1 << 20

// Errors Open returns for answers that are not a stream.
var (
	ErrUnauthorized = errors.New("h264http: unauthorized")
	ErrHTTPStatus   = errors.New("h264http: unexpected HTTP status")
	ErrNotH264      = errors.New("h264http: not an H.264 byte stream")
)

// Config configures a Source; NewSource fills it from a spec.
type Config struct {
	// URL is the stream's http(s) URL, with any user info.
	URL *url.URL
	// DialTimeout bounds connecting and reading the response headers; 0 means 10 s.
	DialTimeout time.Duration
	// StallTimeout ends a stream that sent nothing for that long; 0 is the default.
	StallTimeout time.Duration
	// MaxAccessUnit bounds one access unit; 0 is h264.DefaultMaxAccessUnit.
	MaxAccessUnit int
	// Video configures each connection's queue.
	Video  passthrough.Config
	Logger *slog.Logger
	// HTTPClient overrides the transport (tests); nil builds one per connection.
	HTTPClient *http.Client
}

// Source is an H.264 byte stream over HTTP; each Open is a new request.
type Source struct{ cfg Config }

// NewSource is the device.SourceFactory for h264+http://[USER[:PASSWORD]@]HOST[:PORT]/PATH and
// h264+https://…: the URL without "h264+" is requested as is. A password comes from the URL
// or, for a user without one, from KVMAGENT_H264_PASSWORD.
func NewSource(spec *url.URL, opts device.Options) (device.Source, error) {
	scheme, ok := strings.CutPrefix(spec.Scheme, "h264+")
	if !ok || (scheme != "http" && scheme != "https") {
		return nil, fmt.Errorf("h264http: scheme %q: want h264+http:// or h264+https://", spec.Scheme)
	}
	if spec.Host == "" || spec.Opaque != "" {
		return nil, errors.New("h264http: want h264+http://HOST[:PORT]/PATH, like h264+http://encoder:8080/stream")
	}
	u := *spec
	u.Scheme = scheme
	u.Fragment, u.RawFragment = "", ""
	device.FillPassword(&u, opts, PasswordVar)
	return New(Config{URL: &u, DialTimeout: opts.DialTimeout, Logger: opts.Logger}), nil
}

// New returns a Source for cfg.
func New(cfg Config) *Source {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
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
	u.Scheme = "h264+" + u.Scheme
	return u.String()
}

// Codec is H.264: the agent offers it before the first connection (device.Encoded).
func (s *Source) Codec() media.Codec { return media.CodecH264 }

// Open requests the stream and returns once the response headers are in.
func (s *Source) Open(ctx context.Context) (device.Conn, error) {
	// The request outlives Open: its context is the connection's, cancelled on Close.
	reqCtx, cancel := context.WithCancel(context.Background())
	stopCtx := context.AfterFunc(ctx, cancel)
	timer := time.AfterFunc(s.cfg.DialTimeout, cancel)
	client := s.cfg.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			DialContext:        (&net.Dialer{Timeout: s.cfg.DialTimeout, KeepAlive: 15 * time.Second}).DialContext,
			DisableCompression: true,
			DisableKeepAlives:  true, // one connection for the stream's life
		}}
	}
	fail := func(err error) (device.Conn, error) {
		timer.Stop()
		stopCtx()
		cancel()
		client.CloseIdleConnections()
		return device.Conn{}, err
	}
	u := *s.cfg.URL
	u.User = nil
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fail(fmt.Errorf("h264http: %s: %w", s, err))
	}
	if ui := s.cfg.URL.User; ui != nil {
		pw, _ := ui.Password()
		req.SetBasicAuth(ui.Username(), pw)
	}
	req.Header.Set("User-Agent", "kvmagent")
	resp, err := client.Do(req)
	if err != nil {
		return fail(s.connectError(ctx, timer, err))
	}
	if err := s.checkResponse(resp); err != nil {
		_ = resp.Body.Close()
		return fail(err)
	}
	if !timer.Stop() || !stopCtx() {
		_ = resp.Body.Close()
		return fail(s.connectError(ctx, timer, context.DeadlineExceeded))
	}
	log := s.cfg.Logger.With("source", s.String())
	vcfg := s.cfg.Video
	vcfg.Logger = log
	v := passthrough.Start(vcfg, func(ctx context.Context, v *passthrough.Video) error {
		defer client.CloseIdleConnections()
		defer resp.Body.Close()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		return s.read(resp.Body, cancel, &passthrough.Forwarder{Video: v})
	})
	return device.Conn{Video: v}, nil
}

func (s *Source) connectError(ctx context.Context, timer *time.Timer, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case !timer.Stop():
		return fmt.Errorf("h264http: %s did not answer within %v: check the host and port", s, s.cfg.DialTimeout)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("h264http: cannot reach %s (%v): check the host and port", s.cfg.URL.Host, opErr.Err)
	}
	return fmt.Errorf("h264http: %s: %w", s, err)
}

func (s *Source) checkResponse(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		what := "no user and password given: put the user in the URL (h264+http://USER@host/…) and the password in " + PasswordVar
		if s.cfg.URL.User != nil {
			what = "wrong user or password (user in the URL, password in " + PasswordVar + ")"
		}
		return fmt.Errorf("%w: %s answered %d: %s", ErrUnauthorized, s, resp.StatusCode, what)
	default:
		return fmt.Errorf("%w: %s answered %s: check the stream path", ErrHTTPStatus, s, resp.Status)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if strings.HasPrefix(mt, "text/") || strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "multipart/") {
		return fmt.Errorf("%w: %s is %s: point the URL at a raw H.264 stream (ffmpeg -f h264)", ErrNotH264, s, mt)
	}
	return nil
}

// read splits the body into access units and forwards them until the stream fails.
func (s *Source) read(body io.Reader, cancel context.CancelFunc, fwd *passthrough.Forwarder) error {
	split := h264.NewSplitter(s.cfg.MaxAccessUnit)
	stalled := time.AfterFunc(s.cfg.StallTimeout, cancel)
	defer stalled.Stop()
	buf := make([]byte, 64<<10)
	skipped, dropped := 0, 0
	for {
		n, err := body.Read(buf)
		now := time.Now()
		if n > 0 {
			if !stalled.Reset(s.cfg.StallTimeout) {
				return fmt.Errorf("h264http: %s sent nothing for %v", s, s.cfg.StallTimeout)
			}
			if !split.Synced() {
				if skipped += n; skipped > maxLeadingGarbage {
					return fmt.Errorf("%w: %s sent %d bytes without an H.264 start code: point the URL at a raw H.264 stream (ffmpeg -f h264)", ErrNotH264, s, skipped)
				}
			}
			aus := split.Push(buf[:n])
			if split.Dropped != dropped {
				fwd.Video.Logger().Warn("access unit too large; dropped, waiting for the next IDR", "max_bytes", s.cfg.MaxAccessUnit)
				dropped = split.Dropped
				fwd.Lost()
			}
			for _, au := range aus {
				if err := fwd.Forward(au, now); err != nil {
					return err
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				for _, au := range split.Flush() {
					if err := fwd.Forward(au, now); err != nil {
						return err
					}
				}
				return fmt.Errorf("h264http: %s ended the stream", s)
			}
			if !stalled.Stop() {
				return fmt.Errorf("h264http: %s sent nothing for %v", s, s.cfg.StallTimeout)
			}
			return fmt.Errorf("h264http: %s: %w", s, err)
		}
	}
}
