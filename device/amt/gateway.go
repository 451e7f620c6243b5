package amt

import (
	"context"
	"fmt"
	"net/url"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/device"
)

// Gateway serves every AMT machine one MPS reaches (kvmagent --source amt+mps://USER@MPS, no
// GUID): the relay names the machine of each console session, and each is a Source of its own
// sharing the gateway's MPS login.
type Gateway struct {
	spec     spec
	opts     device.Options
	password string
	mps      *mps.Client
}

// NewGateway is the device.GatewayFactory of amt+mps:// and amt+mps+http:// specs without a
// GUID; a spec with one is device.ErrOneMachine.
func NewGateway(u *url.URL, opts device.Options) (device.Gateway, error) {
	sp, err := parseSpec(u)
	if err != nil {
		return nil, err
	}
	if !sp.viaMPS || sp.guid != "" {
		return nil, device.ErrOneMachine
	}
	opts = opts.WithDefaults()
	password, err := lookupPassword(sp, opts)
	if err != nil {
		return nil, err
	}
	client, err := newMPSClient(sp, password, opts)
	if err != nil {
		return nil, err
	}
	return &Gateway{spec: sp, opts: opts, password: password, mps: client}, nil
}

// String names the gateway's MPS without secrets.
func (g *Gateway) String() string { return g.spec.String() }

// Source is the machine with GUID target, with the spec's options (bpp, display).
func (g *Gateway) Source(target string, consent *device.Consent) (device.Source, error) {
	guid, err := parseGUID(target)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.spec, err)
	}
	sp := g.spec
	sp.guid = guid
	opts := g.opts
	opts.Consent = consent
	return newMPSSource(sp, opts, g.password, g.mps), nil
}

// Links lists the machines MPS knows, up when their CIRA link is.
func (g *Gateway) Links(ctx context.Context) ([]device.Link, error) {
	devs, err := g.mps.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: list machines: %w", g.spec, err)
	}
	links := make([]device.Link, 0, len(devs))
	for _, d := range devs {
		guid, err := parseGUID(d.GUID)
		if err != nil {
			continue // not a machine a console can name
		}
		name := d.FriendlyName
		if name == "" {
			name = d.Hostname
		}
		links = append(links, device.Link{Target: guid, Up: d.ConnectionStatus, Name: name, Tags: d.Tags})
	}
	return links, nil
}
