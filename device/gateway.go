package device

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// Gateway reaches many machines through one management service — Intel AMT machines behind
// one MPS — and kvmagent serves each as its own device, by the target the relay names in a
// console's session (the machine's GUID). Sources it makes are on demand: a machine is
// connected only while a console watches it.
type Gateway interface {
	// String names the gateway without secrets.
	String() string
	// Source is the machine at target, asking its user's consent through consent. It does
	// not connect. A target the gateway cannot address is an error saying why.
	Source(target string, consent *Consent) (Source, error)
	// Links lists the machines the service reaches and whether each can be reached now.
	Links(ctx context.Context) ([]Link, error)
}

// Link is one machine a gateway knows, and whether its management link is up (for AMT: its
// CIRA connection to MPS).
type Link struct {
	Target string
	Up     bool
	// Name and Tags are what the service says of the machine (MPS's hostname and tags):
	// the relay names and adopts machines by them.
	Name string
	Tags []string
}

// GatewayFactory parses a spec of its scheme that names a gateway. A spec naming one machine
// is ErrOneMachine: it is a Source's spec instead.
type GatewayFactory func(spec *url.URL, opts Options) (Gateway, error)

// ErrOneMachine is a gateway factory's answer to a spec that names one machine.
var ErrOneMachine = errors.New("device: the spec names one machine, not a gateway")

// Gateway parses spec and builds the Gateway its scheme names; ErrUnknownScheme when no
// gateway has that scheme and ErrOneMachine when the spec names one machine: both mean spec
// is a Source's.
func (c Catalog) Gateway(spec string, opts Options) (Gateway, error) {
	u, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	f, ok := c.Gateways[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownScheme, u.Scheme)
	}
	opts = opts.WithDefaults()
	g, err := f(u, opts)
	if err != nil {
		if errors.Is(err, ErrOneMachine) {
			return nil, err
		}
		return nil, fmt.Errorf("--source %s: %w", Redact(spec), err)
	}
	return g, nil
}
