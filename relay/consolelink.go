package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ErrNoSuchDevice: no device of the control plane has the name or id asked for.
var ErrNoSuchDevice = errors.New("relay: no such device in the control plane")

// PrincipalKindRelay names who holds the relay's data directory (its signing key) in console
// sessions started by `kvmrelay token console`: "relay:<name>".
const PrincipalKindRelay = accounts.KindRelay

// ConsoleLinkForDevice starts a console session on the control-plane device named device
// (its name, case-insensitively, or its id) and returns its one-time console link, for
// `kvmrelay token console --device NAME`. An enrolled agent connects as its device's id, so a
// link minted for the bare name would wait forever for an agent that never comes under that
// name; a real session is also audited, shown on the dashboard and ends like any other.
// ErrNoSuchDevice means no organization has such a device (a relay whose agents use
// `kvmrelay token agent --device NAME` tokens: the name is then the device).
func ConsoleLinkForDevice(ctx context.Context, cfg Config, device, principal string) (string, error) {
	return ConsoleLinkForDeviceWithGrant(ctx, cfg, device, principal, wire.GrantControl)
}

// ConsoleLinkForDeviceWithGrant is ConsoleLinkForDevice for a console that may do what grant
// says (view, control, admin). The relay's operator holds the signing key, so the grant is
// theirs to choose; it is not re-derived (the principal is not stored in the control plane).
func ConsoleLinkForDeviceWithGrant(ctx context.Context, cfg Config, device, principal string, grant wire.Grant) (string, error) {
	if !grant.Valid() {
		return "", fmt.Errorf("console link: unknown grant %q (view, control or admin)", grant)
	}
	if err := cfg.setDefaults(); err != nil {
		return "", err
	}
	keys, err := auth.LoadOrCreateKeyring(cfg.DataDir)
	if err != nil {
		return "", err
	}
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: IssuerName})
	if err != nil {
		return "", err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer st.Close()
	orgID, dev, err := findDevice(ctx, st, device)
	if err != nil {
		return "", err
	}
	mgr, err := sessions.New(sessions.Config{Store: st, Issuer: iss, PublicURL: cfg.PublicURL, Logger: cfg.Logger})
	if err != nil {
		return "", err
	}
	started, err := mgr.Start(ctx, orgID, PrincipalKindRelay+":"+principal, dev.ID, grant)
	if err != nil {
		return "", fmt.Errorf("start a console session on %s: %w", dev.Name, err)
	}
	return started.ConsoleURL, nil
}

// findDevice finds the one live device called name (or with that id) in any organization.
func findDevice(ctx context.Context, st store.Store, name string) (string, store.Device, error) {
	orgs, err := st.OrganizationIDs(ctx)
	if err != nil {
		return "", store.Device{}, err
	}
	type hit struct {
		org string
		dev store.Device
	}
	var hits []hit
	for _, org := range orgs {
		err := st.Read(ctx, org, func(tx store.Tx) error {
			devs, err := tx.Devices(ctx)
			for _, d := range devs {
				if d.RevokedAt == nil && (d.ID == name || strings.EqualFold(d.Name, name)) {
					hits = append(hits, hit{org, d})
				}
			}
			return err
		})
		if err != nil {
			return "", store.Device{}, err
		}
	}
	switch len(hits) {
	case 0:
		return "", store.Device{}, fmt.Errorf("device %q: %w", name, ErrNoSuchDevice)
	case 1:
		return hits[0].org, hits[0].dev, nil
	default:
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.dev.ID
		}
		return "", store.Device{}, fmt.Errorf("%d devices are called %q (ids %s): pass --device with the id of the one you mean", len(hits), name, strings.Join(ids, ", "))
	}
}
