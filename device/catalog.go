package device

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Options are what every source factory may use besides its spec.
type Options struct {
	// Width, Height and FPS size sources that draw their own picture (the test pattern) and
	// are hints for capture devices; sources with their own size (VNC) ignore them.
	Width, Height, FPS int
	Logger             *slog.Logger
	// Lookup returns a secret by name (an environment variable or a file the operator pointed
	// to): passwords never come from the command line.
	Lookup func(name string) (string, bool)
	// DialTimeout bounds one connection attempt; 0 means 10 s.
	DialTimeout time.Duration
	// TLSRoots are the roots to trust for sources reached over TLS when the operator named
	// them (--mps-ca); nil trusts the system's.
	TLSRoots *x509.CertPool
	// Consent is where a source that must ask a person's consent (Intel AMT) waits for the
	// code; the agent connects it to the consoles. Nil: such a source fails with a clear
	// error instead.
	Consent *Consent
}

// WithDefaults fills what the caller left unset: the default logger, a 10 s dial timeout.
func (o Options) WithDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	return o
}

// SourceFactory parses a spec of its scheme into a Source; a bad spec is an error that says
// what a good one looks like. It does not connect.
type SourceFactory func(spec *url.URL, opts Options) (Source, error)

// SinkFactory opens an input device a --hid spec names.
type SinkFactory func(spec *url.URL) (Sink, error)

// Catalog maps URL schemes to factories. cmd/ fills it; nothing else imports the protocols.
type Catalog struct {
	Sources map[string]SourceFactory
	Sinks   map[string]SinkFactory
	// Gateways serve many machines from one spec (gateway.go).
	Gateways map[string]GatewayFactory
}

// ErrUnknownScheme is returned for a spec no factory handles.
var ErrUnknownScheme = errors.New("device: unknown scheme")

// ParseSpec parses a --source or --hid spec. A bare word ("testpattern", "none") is a spec with
// that scheme and nothing else.
func ParseSpec(spec string) (*url.URL, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("device: empty spec")
	}
	if !strings.Contains(spec, ":") {
		return &url.URL{Scheme: strings.ToLower(spec)}, nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		// url.Error repeats the whole spec, password included: keep only its reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("device: %q is not a URL: %w", Redact(spec), err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("device: %q has no scheme (like vnc:// or mjpeg+http://)", Redact(spec))
	}
	return u, nil
}

// Source parses spec and builds the Source its scheme names.
func (c Catalog) Source(spec string, opts Options) (Source, error) {
	u, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	f, ok := c.Sources[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("%w %q in --source %q; known: %s", ErrUnknownScheme, u.Scheme, Redact(spec), schemes(c.Sources))
	}
	opts = opts.WithDefaults()
	s, err := f(u, opts)
	if err != nil {
		return nil, fmt.Errorf("--source %s: %w", Redact(spec), err)
	}
	return s, nil
}

// Sink parses spec and opens the input device its scheme names.
func (c Catalog) Sink(spec string) (Sink, error) {
	u, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	f, ok := c.Sinks[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("%w %q in --hid %q; known: none, source, %s", ErrUnknownScheme, u.Scheme, spec, schemes(c.Sinks))
	}
	s, err := f(u)
	if err != nil {
		return nil, fmt.Errorf("--hid %s: %w", spec, err)
	}
	return s, nil
}

func schemes[V any](m map[string]V) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k) // bare: "testpattern" takes no "://"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// Redact returns spec with any password in its user info replaced by "xxxxx", for messages and
// logs. It works on text, so a spec too broken to parse is redacted too.
func Redact(spec string) string {
	scheme, rest, ok := strings.Cut(spec, "://")
	if !ok {
		return spec
	}
	authority, path, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return spec
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	if !hasPassword {
		return spec
	}
	out := scheme + "://" + user + ":xxxxx" + authority[at:]
	if len(rest) > len(authority) {
		out += "/" + path
	}
	return out
}

// Input specs with a meaning of their own.
const (
	// InputFromSource uses the input the source carries (VNC, AMT); the default.
	InputFromSource = "source"
	// InputNone makes the device view-only.
	InputNone = "none"
)

// Input resolves a --hid spec: the source's own input (sink nil, viewOnly false), none
// (viewOnly true), or an input device of its own.
func (c Catalog) Input(spec string) (sink Sink, viewOnly bool, err error) {
	switch strings.ToLower(strings.TrimSpace(spec)) {
	case "", InputFromSource:
		return nil, false, nil
	case InputNone:
		return nil, true, nil
	}
	sink, err = c.Sink(spec)
	return sink, false, err
}

// Kind is the scheme a --source spec names ("vnc", "testpattern"), reported to the relay.
func Kind(spec string) string {
	u, err := ParseSpec(spec)
	if err != nil {
		return "unknown"
	}
	return u.Scheme
}

// FillPassword gives a URL that names a user but no password the password the environment
// variable envName holds (through opts.Lookup): passwords stay off the command line, where
// process listings show them. A password in the URL wins.
func FillPassword(u *url.URL, opts Options, envName string) {
	if u.User == nil || opts.Lookup == nil {
		return
	}
	if _, has := u.User.Password(); has {
		return
	}
	if pw, found := opts.Lookup(envName); found {
		u.User = url.UserPassword(u.User.Username(), pw)
	}
}
