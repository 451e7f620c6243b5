package device

import (
	"context"
	"errors"
	"fmt"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/asciifold"
)

// Gateways: one kvmagent (a device of kind gateway, enrolled like any agent) reaches many
// Intel AMT machines through one MPS; each machine is a device of its own that names the
// gateway and its GUID there. Such a served device has no agent and no enrollment token; its
// presence is its gateway's with the link its gateway reports (Device.Presence,
// store.Tx.SetTargetLinks), its consoles go through the gateway's agent, and revoking the
// gateway revokes it.

// Sentinel errors of gateways and served devices.
var (
	// ErrNoGateway: the gateway named for a served device is not a gateway the principal may
	// use (unknown, outside its scope, or a device of another kind). Matched by a *RequestError.
	ErrNoGateway = errors.New("device: no such gateway")
	// ErrBadGUID: an AMT GUID is malformed. Matched by a *RequestError.
	ErrBadGUID = errors.New("device: malformed AMT GUID")
	// ErrGatewayRevoked: a revoked gateway serves no new device. Matched by a *ConflictError.
	ErrGatewayRevoked = errors.New("device: gateway revoked")
	// ErrTargetTaken: the gateway already serves a device at that GUID. Matched by a
	// *ConflictError.
	ErrTargetTaken = errors.New("device: gateway already serves that machine")
	// ErrServedDevice: a served device has no agent of its own to enroll. Matched by a
	// *ConflictError.
	ErrServedDevice = errors.New("device: served by a gateway")
)

// RequestError is a request the caller must change: Error is a sentence for people. It
// matches its Err and store.ErrInvalid.
type RequestError struct {
	Msg string
	Err error
}

func (e *RequestError) Error() string   { return e.Msg }
func (e *RequestError) Unwrap() []error { return []error{e.Err, store.ErrInvalid} }

// NewDevice is a device to create.
type NewDevice struct {
	Name   string
	Labels map[string]string
	// Kind is store.DeviceAgent (also when empty) or store.DeviceGateway.
	Kind store.DeviceKind
	// AMT, when set, makes an agent device served by a gateway: an Intel AMT machine.
	AMT *AMT
	// AMTTags, for a gateway only, are the MPS tags of the machines it adopts (Adopt);
	// checked by CheckTags.
	AMTTags []string
}

// AMT says which gateway serves a device and at which machine.
type AMT struct {
	// Gateway is the gateway's device id or name (names are unique ignoring ASCII case).
	Gateway string
	// GUID is the machine's AMT GUID, 8-4-4-4-12 hex digits in either case; Create stores it
	// in canonical lower case.
	GUID string
}

func (nd NewDevice) kind() store.DeviceKind {
	if nd.Kind == "" {
		return store.DeviceAgent
	}
	return nd.Kind
}

// check validates the fields and normalizes the GUID and the tags.
func (nd *NewDevice) check() error {
	if err := CheckFields(nd.Name, nd.Labels); err != nil {
		return err
	}
	if !nd.kind().Valid() {
		return &RequestError{Err: store.ErrInvalid, Msg: fmt.Sprintf(
			"Device kind %q is unknown; a device is an agent (the default) or a gateway.", nd.Kind)}
	}
	if len(nd.AMTTags) > 0 && nd.kind() != store.DeviceGateway {
		return tagsNotGateway(nd.Name)
	}
	tags, err := CheckTags(nd.AMTTags)
	if err != nil {
		return err
	}
	nd.AMTTags = tags
	if nd.AMT == nil {
		return nil
	}
	if nd.kind() != store.DeviceAgent {
		return &RequestError{Err: store.ErrInvalid, Msg: "A gateway cannot be served by another gateway; create the gateway without an AMT machine, or the machine without kind gateway."}
	}
	if nd.AMT.Gateway == "" {
		return &RequestError{Err: ErrNoGateway, Msg: "Name the gateway that serves the AMT machine (its device id or name)."}
	}
	g, err := apf.ParseGUID(nd.AMT.GUID)
	if err != nil {
		return &RequestError{Err: ErrBadGUID, Msg: fmt.Sprintf(
			"%q is not an AMT GUID; give it as 8-4-4-4-12 hex digits, e.g. 12345678-9abc-def0-1234-56789abcdef0 (as MPS lists it).", nd.AMT.GUID)}
	}
	a := *nd.AMT // the caller's stays as given
	a.GUID = g.String()
	nd.AMT = &a
	return nil
}

// servingGateway finds the gateway a new served device names, inside tx: a gateway of the
// organization, in p's scope, not revoked, not serving that GUID yet.
func (s *Service) servingGateway(ctx context.Context, tx store.Tx, p accounts.Principal, a AMT) (store.Device, error) {
	gw, err := findGateway(ctx, tx, p, a.Gateway)
	if err != nil {
		return gw, err
	}
	if gw.RevokedAt != nil {
		return gw, &ConflictError{Err: ErrGatewayRevoked, Msg: fmt.Sprintf(
			"Gateway %q is revoked and serves no new device; create and enroll a new gateway.", gw.Name)}
	}
	served, err := tx.ServedDevices(ctx, gw.ID)
	if err != nil {
		return gw, err
	}
	for _, d := range served {
		if d.Target == a.GUID {
			return gw, &ConflictError{Err: ErrTargetTaken, Msg: fmt.Sprintf(
				"Gateway %q already serves the AMT machine %s as device %q; use that device, or revoke and delete it first.", gw.Name, a.GUID, d.Name)}
		}
	}
	return gw, nil
}

// findGateway resolves ref, a device id or name, to a gateway p may see. Whatever is not one
// (unknown, outside p's scope, another kind) is one refusal, so the answer tells nothing
// about devices p may not see.
func findGateway(ctx context.Context, tx store.Tx, p accounts.Principal, ref string) (store.Device, error) {
	var ds []store.Device
	if store.ValidID(ref) {
		d, err := tx.Device(ctx, ref)
		switch {
		case err == nil:
			ds = []store.Device{d}
		case !errors.Is(err, store.ErrNotFound):
			return store.Device{}, err
		}
	}
	if ds == nil { // a name (or an id no device has, which may still be some device's name)
		var err error
		if ds, err = tx.Devices(ctx); err != nil {
			return store.Device{}, err
		}
	}
	var found *store.Device
	for i, d := range ds {
		if d.ID == ref {
			found = &ds[i]
			break
		}
		// Names are unique ignoring ASCII case, so at most one matches.
		if found == nil && asciifold.Equal(d.Name, ref) {
			found = &ds[i]
		}
	}
	if found == nil || !p.SeesDevice(found.Labels) {
		return store.Device{}, &RequestError{Err: ErrNoGateway, Msg: fmt.Sprintf(
			"No gateway %q in your organization; create one first (kind gateway) and name it by id or name.", ref)}
	}
	if found.Kind != store.DeviceGateway {
		return store.Device{}, &RequestError{Err: ErrNoGateway, Msg: fmt.Sprintf(
			"Device %q is not a gateway; name a device created as a gateway.", found.Name)}
	}
	return *found, nil
}
