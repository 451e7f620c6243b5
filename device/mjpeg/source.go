package mjpeg

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
)

// Schemes of MJPEG-over-HTTP specs.
const (
	SchemeHTTP  = "mjpeg+http"
	SchemeHTTPS = "mjpeg+https"
)

// PasswordVar names the secret holding the stream's basic-auth password when the spec names
// a user without one.
const PasswordVar = "KVMAGENT_MJPEG_PASSWORD"

// DefaultStallTimeout is how long a stream may go without a frame before it counts as lost.
// ustreamer repeats its last frame every second even when the picture does not change.
const DefaultStallTimeout = 5 * time.Second

// Config configures a Source. NewSource fills it from a spec; tests build it directly.
type Config struct {
	// URL is the stream's http(s) URL, with any user info.
	URL *url.URL
	// DialTimeout bounds connecting and reading the response headers; 0 means 10 s.
	DialTimeout time.Duration
	// StallTimeout ends a stream that delivered no frame for that long; 0 is the default.
	StallTimeout time.Duration
	// MaxFrame bounds one JPEG in bytes; 0 is DefaultMaxFrame.
	MaxFrame int
	// PinSHA256 is the SHA-256 of the server's certificate (DER), hex: an https server with a
	// self-signed certificate (PiKVM's) is trusted when it presents exactly that one.
	PinSHA256 string
	// TLS is the client TLS configuration (tests trust their own CA); nil is the default.
	TLS *tls.Config
	// NewDecoder makes each connection's decoder; nil is NewDecoder.
	NewDecoder func() Decoder
	Logger     *slog.Logger
}

// Source is an MJPEG stream; each Open is a new HTTP request.
type Source struct {
	cfg Config
}

// NewSource is the device.SourceFactory for mjpeg+http://[USER[:PASSWORD]@]HOST[:PORT]/PATH
// and mjpeg+https://…: the URL without "mjpeg+" is requested as is (query included). A
// password comes from the URL or, for a user without one, from KVMAGENT_MJPEG_PASSWORD. An
// https spec may pin a self-signed certificate with #sha256=HEX (the fragment never reaches
// the server).
func NewSource(spec *url.URL, opts device.Options) (device.Source, error) {
	scheme, ok := strings.CutPrefix(spec.Scheme, "mjpeg+")
	if !ok || (scheme != "http" && scheme != "https") {
		return nil, fmt.Errorf("mjpeg: scheme %q: want mjpeg+http:// or mjpeg+https://", spec.Scheme)
	}
	if spec.Host == "" || spec.Opaque != "" {
		return nil, errors.New("mjpeg: want mjpeg+http://HOST[:PORT]/PATH, like mjpeg+https://pikvm/streamer/stream")
	}
	u := *spec
	u.Scheme = scheme
	u.Fragment, u.RawFragment = "", ""
	cfg := Config{URL: &u, DialTimeout: opts.DialTimeout, Logger: opts.Logger}
	if f := spec.Fragment; f != "" {
		pin, ok := strings.CutPrefix(f, "sha256=")
		pin = strings.ToLower(strings.ReplaceAll(pin, ":", ""))
		if b, err := hex.DecodeString(pin); !ok || err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("mjpeg: fragment #%s: want #sha256=<64 hex digits of the server certificate's SHA-256>", f)
		}
		if scheme != "https" {
			return nil, errors.New("mjpeg: a #sha256= certificate pin needs mjpeg+https://")
		}
		cfg.PinSHA256 = pin
	}
	device.FillPassword(&u, opts, PasswordVar)
	return New(cfg), nil
}

// New returns a Source for cfg.
func New(cfg Config) *Source {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.NewDecoder == nil {
		cfg.NewDecoder = NewDecoder
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Source{cfg: cfg}
}

// String names the stream without its password.
func (s *Source) String() string { return "mjpeg+" + s.redacted() }

func (s *Source) redacted() string { return device.Redact(s.cfg.URL.String()) }

// tlsConfig is the client TLS configuration: the system roots, or the pinned certificate.
func (s *Source) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLS != nil {
		c = s.cfg.TLS.Clone()
	}
	if s.cfg.PinSHA256 != "" {
		want, _ := hex.DecodeString(s.cfg.PinSHA256)
		// The pin replaces chain verification: a self-signed certificate names no CA.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("%w: the server certificate's SHA-256 is %x, the spec pins %x", errPinMismatch, got, want)
			}
			return nil
		}
	}
	return c
}

var errPinMismatch = errors.New("certificate pin mismatch")

// certHint turns an untrusted-certificate error into what to do about it.
func certHint(err error) string {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) && unknown.Cert != nil {
		sum := sha256.Sum256(unknown.Cert.Raw)
		return fmt.Sprintf("its certificate is not signed by a trusted CA (PiKVM's is self-signed): if its SHA-256 is %x, pin it by ending the spec with #sha256=%x", sum, sum)
	}
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	if errors.As(err, &invalid) || errors.As(err, &host) {
		return "its certificate is not valid for this name: use the name it was issued for, or pin it with #sha256=<its SHA-256>"
	}
	if errors.Is(err, errPinMismatch) {
		return "it presents another certificate than the pinned one: check the host, then update #sha256= if its certificate was renewed"
	}
	return ""
}
