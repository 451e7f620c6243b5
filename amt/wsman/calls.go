package wsman

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxDisplays bounds how many screens a response may describe.
const maxDisplays = 16

// do sends one envelope and decodes the response into B.
func do[B faulter](ctx context.Context, c *Client, what string, build func(id uint64) []byte) (*B, error) {
	resp, id, err := c.call(ctx, build)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	b, err := decodeResponse[B](resp.status, resp.body, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

func get[B faulter](ctx context.Context, c *Client, uri string) (*B, error) {
	return do[B](ctx, c, "get "+className(uri), func(id uint64) []byte {
		return buildRequest(actionGet, uri, id, bodyEmpty)
	})
}

// enumerate runs Enumerate then Pull on uri, as MPS does for classes with
// several instances.
func enumerate[B faulter](ctx context.Context, c *Client, uri string) (*B, error) {
	what := "enumerate " + className(uri)
	e, err := do[enumerateBody](ctx, c, what, func(id uint64) []byte {
		return buildRequest(actionEnumerate, uri, id, bodyEnumerate)
	})
	if err != nil {
		return nil, err
	}
	if e.Response == nil || strings.TrimSpace(e.Response.Context) == "" {
		return nil, fmt.Errorf("%s: %w: no EnumerationContext", what, errMalformed)
	}
	enumContext := strings.TrimSpace(e.Response.Context)
	return do[B](ctx, c, "pull "+className(uri), func(id uint64) []byte {
		return buildRequest(actionPull, uri, id, pullBody(enumContext))
	})
}

func className(uri string) string { return uri[strings.LastIndexByte(uri, '/')+1:] }

// PowerState reads the machine's power state (PowerOn, PowerOffSoft, …) as
// MPS's GET /api/v1/devices/{guid}/power/state does: enumerate
// CIM_ServiceAvailableToElement and read its
// CIM_AssociatedPowerManagementService's PowerState.
func (c *Client) PowerState(ctx context.Context) (int, error) {
	b, err := enumerate[pullPowerBody](ctx, c, uriServiceAvailableToElement)
	if err != nil {
		return 0, err
	}
	if b.Response != nil {
		for _, it := range b.Response.Items.Power {
			if it.PowerState != nil {
				return *it.PowerState, nil
			}
		}
	}
	return 0, fmt.Errorf("pull CIM_ServiceAvailableToElement: %w: no CIM_AssociatedPowerManagementService PowerState", errMalformed)
}

// RequestPowerStateChange asks for a power action (PowerOn, PowerOffSoft,
// PowerMasterBusReset, PowerCycleSoft, …) and returns AMT's ReturnValue.
func (c *Client) RequestPowerStateChange(ctx context.Context, state int) (int, error) {
	b, err := do[powerChangeBody](ctx, c, "RequestPowerStateChange", func(id uint64) []byte {
		return buildRequest(actionRequestPowerStateChange, uriPowerManagementService, id, powerStateChangeBody(state))
	})
	if err != nil {
		return 0, err
	}
	if b.Output == nil || b.Output.ReturnValue == nil {
		return 0, fmt.Errorf("RequestPowerStateChange: %w: no ReturnValue", errMalformed)
	}
	return *b.Output.ReturnValue, nil
}

// Features reads AMT_RedirectionService, IPS_OptInService and
// CIM_KVMRedirectionSAP as MPS's GET /api/v1/amt/features does (MPS also
// reads boot settings for its OCR fields; those are not read here). A fault
// on the KVM SAP means no KVM (KVMAvailable false), as in MPS.
func (c *Client) Features(ctx context.Context) (Features, error) {
	var f Features
	r, err := get[redirectionBody](ctx, c, uriRedirectionService)
	if err != nil {
		return Features{}, err
	}
	if r.Service == nil || r.Service.EnabledState == nil || r.Service.ListenerEnabled == nil {
		return Features{}, fmt.Errorf("get AMT_RedirectionService: %w: EnabledState or ListenerEnabled missing", errMalformed)
	}
	f.RedirectionState, f.ListenerEnabled = *r.Service.EnabledState, *r.Service.ListenerEnabled

	o, err := get[optInServiceBody](ctx, c, uriOptInService)
	if err != nil {
		return Features{}, err
	}
	if o.Service == nil || o.Service.OptInRequired == nil || o.Service.OptInState == nil {
		return Features{}, fmt.Errorf("get IPS_OptInService: %w: OptInRequired or OptInState missing", errMalformed)
	}
	f.OptInRequired, f.OptInState = *o.Service.OptInRequired, *o.Service.OptInState

	k, err := get[kvmSAPBody](ctx, c, uriKVMRedirectionSAP)
	switch {
	case errors.Is(err, ErrFault):
		return f, nil
	case err != nil:
		return Features{}, err
	case k.SAP == nil || k.SAP.EnabledState == nil:
		return Features{}, fmt.Errorf("get CIM_KVMRedirectionSAP: %w: EnabledState missing", errMalformed)
	}
	f.KVMAvailable, f.KVMEnabledState = true, *k.SAP.EnabledState
	if k.SAP.RequestedState != nil {
		f.KVMRequestedState = *k.SAP.RequestedState
	}
	return f, nil
}

func (c *Client) optIn(ctx context.Context, method, action, children string) (int, error) {
	b, err := do[optInMethodBody](ctx, c, method, func(id uint64) []byte {
		return buildRequest(action, uriOptInService, id, methodBody(method, uriOptInService, children))
	})
	if err != nil {
		return 0, err
	}
	var rv *int
	switch {
	case b.Start != nil && method == "StartOptIn":
		rv = b.Start.ReturnValue
	case b.Send != nil && method == "SendOptInCode":
		rv = b.Send.ReturnValue
	case b.Cancel != nil && method == "CancelOptIn":
		rv = b.Cancel.ReturnValue
	}
	if rv == nil {
		return 0, fmt.Errorf("%s: %w: no %s_OUTPUT ReturnValue", method, errMalformed, method)
	}
	return *rv, nil
}

// StartOptIn asks AMT to show a user-consent code on the managed machine's
// screen; it returns AMT's ReturnValue (ReturnSuccess, ReturnNotReady, …).
func (c *Client) StartOptIn(ctx context.Context) (int, error) {
	return c.optIn(ctx, "StartOptIn", actionStartOptIn, "")
}

// SendOptInCode sends the code the user read off the screen; it returns AMT's
// ReturnValue (ReturnSuccess; a wrong code gives ReturnUnsupported, see there).
func (c *Client) SendOptInCode(ctx context.Context, code int) (int, error) {
	return c.optIn(ctx, "SendOptInCode", actionSendOptInCode, "<h:OptInCode>"+strconv.Itoa(code)+"</h:OptInCode>")
}

// CancelOptIn withdraws a consent request or ends consent; it returns AMT's
// ReturnValue.
func (c *Client) CancelOptIn(ctx context.Context) (int, error) {
	return c.optIn(ctx, "CancelOptIn", actionCancelOptIn, "")
}

// Displays lists the screens as MPS's GET /api/v1/amt/kvm/displays does:
// IPS_ScreenSettingData's per-screen arrays (enumerated) and
// IPS_KVMRedirectionSettingData's DefaultScreen.
func (c *Client) Displays(ctx context.Context) ([]Display, error) {
	s, err := enumerate[pullScreenBody](ctx, c, uriScreenSettingData)
	if err != nil {
		return nil, err
	}
	k, err := get[kvmSettingsBody](ctx, c, uriKVMRedirectionSettingData)
	if err != nil {
		return nil, err
	}
	defaultScreen := -1
	if k.Settings != nil {
		for _, f := range k.Settings.Fields {
			if f.XMLName.Local == "DefaultScreen" {
				if n, err := strconv.Atoi(strings.TrimSpace(f.Value)); err == nil {
					defaultScreen = n
				}
			}
		}
	}
	var out []Display
	if s.Response == nil {
		return out, nil
	}
	for _, it := range s.Response.Items.Screens {
		n := max(len(it.IsActive), len(it.UpperLeftX), len(it.UpperLeftY), len(it.ResolutionX), len(it.ResolutionY))
		if len(out)+n > maxDisplays {
			return nil, fmt.Errorf("pull IPS_ScreenSettingData: %w: more than %d screens", errMalformed, maxDisplays)
		}
		for i := 0; i < n; i++ {
			d := Display{
				Index:       i,
				IsActive:    at(it.IsActive, i),
				UpperLeftX:  at(it.UpperLeftX, i),
				UpperLeftY:  at(it.UpperLeftY, i),
				ResolutionX: at(it.ResolutionX, i),
				ResolutionY: at(it.ResolutionY, i),
				IsDefault:   i == defaultScreen,
			}
			switch i {
			case deref(it.PrimaryIndex):
				d.Role = RolePrimary
			case deref(it.SecondaryIndex):
				d.Role = RoleSecondary
			case deref(it.TertiaryIndex):
				d.Role = RoleTertiary
			case deref(it.QuadraryIndex):
				d.Role = RoleQuaternary
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func at[T any](s []T, i int) T {
	var zero T
	if i < len(s) {
		return s[i]
	}
	return zero
}

// deref is the index, or -1 (matching no screen) when absent.
func deref(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// SetDefaultDisplay makes screen index the one KVM shows first, as MPS's
// PUT /api/v1/amt/kvm/displays does: it reads IPS_KVMRedirectionSettingData
// and puts it back with DefaultScreen changed.
func (c *Client) SetDefaultDisplay(ctx context.Context, index int) error {
	k, err := get[kvmSettingsBody](ctx, c, uriKVMRedirectionSettingData)
	if err != nil {
		return err
	}
	if k.Settings == nil {
		return fmt.Errorf("get IPS_KVMRedirectionSettingData: %w: no instance", errMalformed)
	}
	var fields []field
	seen := false
	for _, f := range k.Settings.Fields {
		if f.XMLName.Space != uriKVMRedirectionSettingData {
			continue
		}
		v := f.Value
		if f.XMLName.Local == "DefaultScreen" {
			v, seen = strconv.Itoa(index), true
		}
		fields = append(fields, field{name: f.XMLName.Local, value: v})
	}
	if !seen {
		fields = append(fields, field{name: "DefaultScreen", value: strconv.Itoa(index)})
	}
	_, err = do[kvmSettingsBody](ctx, c, "put IPS_KVMRedirectionSettingData", func(id uint64) []byte {
		return buildRequest(actionPut, uriKVMRedirectionSettingData, id, putBody("IPS_KVMRedirectionSettingData", uriKVMRedirectionSettingData, fields))
	})
	return err
}
