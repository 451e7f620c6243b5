package mps

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Features is GET /amt/features: what AMT has enabled and where user consent stands.
type Features struct {
	UserConsent  string `json:"userConsent"` // "none", "kvm" or "all": when consent is required
	OptInState   int    `json:"optInState"`  // see the OptIn* constants
	Redirection  bool   `json:"redirection"` // the redirection listener is on
	KVM          bool   `json:"KVM"`
	SOL          bool   `json:"SOL"`
	IDER         bool   `json:"IDER"`
	KVMAvailable bool   `json:"kvmAvailable"` // the platform has KVM at all
}

// AMT's IPS_OptInService.OptInState values.
const (
	OptInNotStarted = 0
	OptInRequested  = 1
	OptInDisplayed  = 2 // a code is on the machine's screen (for about 300 s)
	OptInReceived   = 3 // the code was accepted; a session must start within about 120 s
	OptInInSession  = 4
)

// Display is one screen AMT can show over KVM.
type Display struct {
	Index       int    `json:"displayIndex"`
	Active      bool   `json:"isActive"`
	UpperLeftX  int    `json:"upperLeftX"`
	UpperLeftY  int    `json:"upperLeftY"`
	ResolutionX int    `json:"resolutionX"`
	ResolutionY int    `json:"resolutionY"`
	Default     bool   `json:"isDefault"`
	Role        string `json:"role,omitempty"` // primary, secondary, tertiary, quaternary
}

// DMTF power states (CIM_PowerManagementService.PowerState) that AMT reports and accepts.
const (
	PowerOn              = 2
	PowerSleepLight      = 3
	PowerCycle           = 5 // power cycle (off soft)
	PowerHibernate       = 7
	PowerOffSoft         = 8  // what AMT reports for a machine that is off; Intel's consoles' "power off"
	PowerReset           = 10 // master bus reset
	PowerOffSoftGraceful = 12
)

const (
	opSubmitConsent  = "submit consent code"
	opRequestConsent = "request a consent code"
	opCancelConsent  = "cancel the consent code"
)

// Features reads AMT's features and consent state. ErrNotConnected when the link is down.
func (c *Client) Features(ctx context.Context, guid string) (Features, error) {
	var f Features
	err := c.ciraGet(ctx, guid, "/amt/features/", "feature list", &f)
	return f, err
}

// PowerState is the machine's DMTF power state (2 on, 8 off, …).
func (c *Client) PowerState(ctx context.Context, guid string) (int, error) {
	var s struct {
		PowerState *int `json:"powerstate"`
	}
	if err := c.ciraGet(ctx, guid, "/amt/power/state/", "power state", &s); err != nil {
		return 0, err
	}
	if s.PowerState == nil {
		return 0, fmt.Errorf("mps: MPS sent a power state reply without powerstate")
	}
	return *s.PowerState, nil
}

// PowerAction asks AMT for a power change (POST /amt/power/action {"action":N}); MPS answers
// 200 even when AMT refuses, so a ReturnValue other than 0 comes back as *AMTError.
func (c *Client) PowerAction(ctx context.Context, guid string, action int) error {
	return c.amtMethod(ctx, http.MethodPost, guid, "/amt/power/action/", map[string]int{"action": action},
		fmt.Sprintf("change the power state to %d", action))
}

// RequestConsentCode makes AMT show a consent code on the machine's screen.
func (c *Client) RequestConsentCode(ctx context.Context, guid string) error {
	return c.amtMethod(ctx, http.MethodGet, guid, "/amt/userConsentCode/", nil, opRequestConsent)
}

// SubmitConsentCode sends the code the user read on the screen; ErrConsent when AMT refuses it.
func (c *Client) SubmitConsentCode(ctx context.Context, guid string, code int) error {
	if code < 0 || code > 999999 {
		return fmt.Errorf("mps: consent code %d: want the 6 digits shown on the machine's screen", code)
	}
	return c.amtMethod(ctx, http.MethodPost, guid, "/amt/userConsentCode/", map[string]int{"consentCode": code}, opSubmitConsent)
}

// CancelConsent withdraws a displayed consent code.
func (c *Client) CancelConsent(ctx context.Context, guid string) error {
	return c.amtMethod(ctx, http.MethodGet, guid, "/amt/userConsentCode/cancel/", nil, opCancelConsent)
}

// ConsentStep is what StartConsent found or did.
type ConsentStep int

const (
	// ConsentNotRequired: AMT needs no consent for KVM; start the session.
	ConsentNotRequired ConsentStep = iota
	// ConsentGranted: consent was already given (optInState 3 or 4); start the session now.
	ConsentGranted
	// ConsentCodeDisplayed: a code is on the machine's screen (already, or just requested);
	// submit it with SubmitConsentCode.
	ConsentCodeDisplayed
)

func (s ConsentStep) String() string {
	switch s {
	case ConsentNotRequired:
		return "not required"
	case ConsentGranted:
		return "granted"
	case ConsentCodeDisplayed:
		return "code displayed"
	}
	return fmt.Sprintf("ConsentStep(%d)", int(s))
}

// StartConsent does what Intel's consoles do before KVM: read the features; when consent is
// needed, skip the request if it was already given (optInState 3 or 4), reuse a code already
// displayed (2), and otherwise request one. MPS itself always forwards a request to AMT.
func (c *Client) StartConsent(ctx context.Context, guid string) (ConsentStep, error) {
	f, err := c.Features(ctx, guid)
	if err != nil {
		return 0, err
	}
	if f.UserConsent == "none" {
		return ConsentNotRequired, nil
	}
	switch f.OptInState {
	case OptInReceived, OptInInSession:
		return ConsentGranted, nil
	case OptInDisplayed:
		return ConsentCodeDisplayed, nil
	}
	if err := c.RequestConsentCode(ctx, guid); err != nil {
		return 0, err
	}
	return ConsentCodeDisplayed, nil
}

// Displays lists the screens AMT can show.
func (c *Client) Displays(ctx context.Context, guid string) ([]Display, error) {
	var out struct {
		Displays []Display `json:"displays"`
	}
	err := c.ciraGet(ctx, guid, "/amt/kvm/displays/", "display list", &out)
	return out.Displays, err
}

// SetDisplay makes the screen with this index the one KVM shows (PUT {displayIndex}).
func (c *Client) SetDisplay(ctx context.Context, guid string, index int) error {
	g, err := normGUID(guid)
	if err != nil {
		return err
	}
	r, path, err := c.ciraCall(ctx, http.MethodPut, "/amt/kvm/displays/", g, map[string]int{"displayIndex": index})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return r.statusError(http.MethodPut, path)
	}
	return nil
}

// amtMethod calls a route that runs one AMT method and answers {Body:{ReturnValue,
// ReturnValueStr}}: HTTP 200 with ReturnValue 0 is success; consent routes answer 400 with
// the body when ReturnValue is not 0.
func (c *Client) amtMethod(ctx context.Context, method, guid, route string, in any, op string) error {
	g, err := normGUID(guid)
	if err != nil {
		return err
	}
	r, path, err := c.ciraCall(ctx, method, route, g, in)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK && r.status != http.StatusBadRequest {
		return r.statusError(method, path)
	}
	var out struct {
		Body struct {
			ReturnValue    *int   `json:"ReturnValue"`
			ReturnValueStr string `json:"ReturnValueStr"`
		} `json:"Body"`
	}
	if json.Unmarshal(r.body, &out) != nil || out.Body.ReturnValue == nil {
		if r.status == http.StatusOK {
			return fmt.Errorf("mps: %s %s: MPS sent no ReturnValue", method, path)
		}
		return r.statusError(method, path) // a validation error: {errors:[…]}
	}
	if rv := *out.Body.ReturnValue; rv != 0 {
		return fmt.Errorf("mps: device %s: %w", g, &AMTError{Op: op, ReturnValue: rv, Name: out.Body.ReturnValueStr})
	}
	if r.status != http.StatusOK {
		return r.statusError(method, path)
	}
	return nil
}
