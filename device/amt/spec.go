package amt

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

// Schemes of AMT sources.
const (
	SchemeMPS     = "amt+mps"
	SchemeMPSHTTP = "amt+mps+http"
	SchemeDirect  = "amt"
)

// Names of the secrets the source looks up (device.Options.Lookup).
const (
	MPSPasswordEnv = "KVMAGENT_MPS_PASSWORD"
	AMTPasswordEnv = "KVMAGENT_AMT_PASSWORD"
)

// RedirectionPort is AMT's redirection port (16995 is the same over TLS).
const RedirectionPort = 16994

// DefaultUser is the AMT account of direct mode when the spec names none.
const DefaultUser = "admin"

// Depth is the pixel depth asked of AMT.
type Depth int

// Depths: Auto picks 8 bpp when the screen is too large for 16 (AMT refuses it).
const (
	DepthAuto Depth = 0
	Depth16   Depth = 16
	Depth8    Depth = 8
)

// spec is a parsed AMT source spec.
type spec struct {
	scheme string
	// viaMPS: base is the MPS's REST base URL and guid the machine.
	viaMPS bool
	base   *url.URL
	guid   string
	// direct: addr is AMT's redirection address.
	addr    string
	user    string
	depth   Depth
	display int // -1: AMT's default screen
	// wsmanPort is AMT's WS-Man port in direct mode (0: 16992), for an AMT behind a port
	// forward.
	wsmanPort int
}

var errPasswordInSpec = errors.New("a password in the source spec would show on the command line")

const (
	helpMPS    = "want amt+mps://USER@MPS_HOST[:PORT]/DEVICE_GUID (or amt+mps+http:// on a trusted network)"
	helpDirect = "want amt://[USER@]HOST[:16994]"
)

func parseSpec(u *url.URL) (spec, error) {
	s := spec{scheme: u.Scheme, display: -1}
	help := helpMPS
	if u.Scheme == SchemeDirect {
		help = helpDirect
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return spec{}, fmt.Errorf("%s: no host; %s", u.Scheme, help)
	}
	if _, has := u.User.Password(); has {
		env := MPSPasswordEnv
		if u.Scheme == SchemeDirect {
			env = AMTPasswordEnv
		}
		return spec{}, fmt.Errorf("%s: %w; set %s (or its --…-password-file flag) instead", u.Scheme, errPasswordInSpec, env)
	}
	if u.Fragment != "" {
		return spec{}, fmt.Errorf("%s: unexpected fragment; %s", u.Scheme, help)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return spec{}, fmt.Errorf("%s: bad port %q; %s", u.Scheme, port, help)
		}
	}
	if err := s.parseQuery(u.Query()); err != nil {
		return spec{}, fmt.Errorf("%s: %w", u.Scheme, err)
	}
	switch u.Scheme {
	case SchemeMPS, SchemeMPSHTTP:
		s.viaMPS = true
		s.user = u.User.Username()
		if s.user == "" {
			return spec{}, fmt.Errorf("%s: no MPS user; %s", u.Scheme, help)
		}
		// No GUID: the spec names the MPS alone, and kvmagent serves as its gateway.
		if path := strings.Trim(u.Path, "/"); path != "" {
			guid, err := parseGUID(path)
			if err != nil {
				return spec{}, fmt.Errorf("%s: %w; %s", u.Scheme, err, help)
			}
			s.guid = guid
		}
		scheme := "https"
		if u.Scheme == SchemeMPSHTTP {
			scheme = "http"
		}
		s.base = &url.URL{Scheme: scheme, Host: u.Host}
	case SchemeDirect:
		if u.Path != "" && u.Path != "/" {
			return spec{}, fmt.Errorf("%s: unexpected path %q; %s", u.Scheme, u.Path, help)
		}
		port := u.Port()
		if port == "" {
			port = strconv.Itoa(RedirectionPort)
		}
		s.addr = net.JoinHostPort(u.Hostname(), port)
		s.user = u.User.Username()
		if s.user == "" {
			s.user = DefaultUser
		}
	default:
		return spec{}, fmt.Errorf("amt: unknown scheme %q", u.Scheme)
	}
	return s, nil
}

func (s *spec) parseQuery(q url.Values) error {
	for key, vals := range q {
		if len(vals) != 1 {
			return fmt.Errorf("option %s given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "bpp":
			switch v {
			case "auto":
				s.depth = DepthAuto
			case "16":
				s.depth = Depth16
			case "8":
				s.depth = Depth8
			default:
				return fmt.Errorf("bpp=%q: want auto, 16 or 8", v)
			}
		case "display":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 7 {
				return fmt.Errorf("display=%q: want a screen index 0…7", v)
			}
			s.display = n
		case "wsman-port":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 65535 {
				return fmt.Errorf("wsman-port=%q: want a port", v)
			}
			s.wsmanPort = n
		default:
			return fmt.Errorf("unknown option %q (known: bpp, display, wsman-port)", key)
		}
	}
	return nil
}

// parseGUID checks a device GUID (8-4-4-4-12 hex digits) and lowercases it, as MPS compares
// them.
func parseGUID(s string) (string, error) {
	g, err := apf.ParseGUID(s)
	if err != nil {
		return "", fmt.Errorf("device GUID %q is not 8-4-4-4-12 hex digits", s)
	}
	return g.String(), nil
}

// String names the source without secrets.
func (s spec) String() string {
	if s.viaMPS && s.guid == "" {
		return fmt.Sprintf("%s://%s@%s", s.scheme, s.user, s.base.Host)
	}
	if s.viaMPS {
		return fmt.Sprintf("%s://%s@%s/%s", s.scheme, s.user, s.base.Host, s.guid)
	}
	return fmt.Sprintf("%s://%s@%s", s.scheme, s.user, s.addr)
}
