package amt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/amt/wsman"
)

// errWrongCode is AMT refusing a consent code; the console shows its text.
var errWrongCode = errors.New("wrong code")

// screen is one display as AMT reports it.
type screen struct {
	index, width, height int
	role                 string
	active, isDefault    bool
}

// management is how the source reads and switches the machine's power, user consent and
// screens: through MPS's REST API, or directly over WS-Man on AMT's port 16992.
type management interface {
	powerState(ctx context.Context) (int, error)
	powerAction(ctx context.Context, dmtf int) error
	// startConsent asks for a consent code when AMT needs one; false when it needs none or
	// consent was already given.
	startConsent(ctx context.Context) (codeDisplayed bool, err error)
	submitConsent(ctx context.Context, code int) error // errWrongCode for a refused code
	cancelConsent(ctx context.Context) error
	displays(ctx context.Context) ([]screen, error)
	setDisplay(ctx context.Context, index int) error
}

// viaMPS is management through MPS's REST API (which talks WS-Man over CIRA itself).
type viaMPS struct {
	c    *mps.Client
	guid string
}

func (m viaMPS) powerState(ctx context.Context) (int, error) { return m.c.PowerState(ctx, m.guid) }
func (m viaMPS) powerAction(ctx context.Context, dmtf int) error {
	return m.c.PowerAction(ctx, m.guid, dmtf)
}

func (m viaMPS) startConsent(ctx context.Context) (bool, error) {
	step, err := m.c.StartConsent(ctx, m.guid)
	return step == mps.ConsentCodeDisplayed, err
}

func (m viaMPS) submitConsent(ctx context.Context, code int) error {
	err := m.c.SubmitConsentCode(ctx, m.guid, code)
	if errors.Is(err, mps.ErrConsent) {
		return errWrongCode
	}
	return err
}

func (m viaMPS) cancelConsent(ctx context.Context) error { return m.c.CancelConsent(ctx, m.guid) }
func (m viaMPS) setDisplay(ctx context.Context, index int) error {
	return m.c.SetDisplay(ctx, m.guid, index)
}

func (m viaMPS) displays(ctx context.Context) ([]screen, error) {
	ds, err := m.c.Displays(ctx, m.guid)
	out := make([]screen, 0, len(ds))
	for _, d := range ds {
		out = append(out, screen{index: d.Index, width: d.ResolutionX, height: d.ResolutionY, role: d.Role, active: d.Active, isDefault: d.Default})
	}
	return out, err
}

// direct is management over WS-Man on AMT's own port, with the AMT account (direct mode).
type direct struct {
	addr, host, user, password string
}

func (m direct) client() *wsman.Client {
	return wsman.NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", m.addr)
	}, m.user, m.password, wsman.WithHost(m.host))
}

func (m direct) powerState(ctx context.Context) (int, error) {
	c := m.client()
	defer c.Close()
	return c.PowerState(ctx)
}

func (m direct) powerAction(ctx context.Context, dmtf int) error {
	c := m.client()
	defer c.Close()
	rv, err := c.RequestPowerStateChange(ctx, dmtf)
	if err == nil && rv != wsman.ReturnSuccess {
		err = fmt.Errorf("AMT answered ReturnValue %d", rv)
	}
	return err
}

// startConsent does what MPS's consoles do: skip when consent is not required or already
// given, reuse a displayed code, otherwise request one.
func (m direct) startConsent(ctx context.Context) (bool, error) {
	c := m.client()
	defer c.Close()
	f, err := c.Features(ctx)
	if err != nil {
		return false, err
	}
	if f.OptInRequired == wsman.OptInNone {
		return false, nil
	}
	switch f.OptInState {
	case wsman.OptInStateReceived, wsman.OptInStateInSession:
		return false, nil
	case wsman.OptInStateDisplayed:
		return true, nil
	}
	rv, err := c.StartOptIn(ctx)
	if err == nil && rv != wsman.ReturnSuccess {
		err = fmt.Errorf("AMT refused to show a consent code (ReturnValue %d)", rv)
	}
	return err == nil, err
}

func (m direct) submitConsent(ctx context.Context, code int) error {
	c := m.client()
	defer c.Close()
	rv, err := c.SendOptInCode(ctx, code)
	switch {
	case err != nil:
		return err
	case rv == wsman.ReturnUnsupported || rv == wsman.ReturnInvalidParameter:
		return errWrongCode
	case rv != wsman.ReturnSuccess:
		return fmt.Errorf("AMT refused the code (ReturnValue %d)", rv)
	}
	return nil
}

func (m direct) cancelConsent(ctx context.Context) error {
	c := m.client()
	defer c.Close()
	_, err := c.CancelOptIn(ctx)
	return err
}

func (m direct) displays(ctx context.Context) ([]screen, error) {
	c := m.client()
	defer c.Close()
	ds, err := c.Displays(ctx)
	out := make([]screen, 0, len(ds))
	for i, d := range ds {
		out = append(out, screen{index: i, width: d.ResolutionX, height: d.ResolutionY, role: d.Role, active: d.IsActive, isDefault: d.IsDefault})
	}
	return out, err
}

func (m direct) setDisplay(ctx context.Context, index int) error {
	c := m.client()
	defer c.Close()
	return c.SetDefaultDisplay(ctx, index)
}

// newDirect is the management of an amt:// machine: WS-Man on port 16992 of its host.
func newDirect(redirAddr, user, password string) direct {
	host, _, _ := net.SplitHostPort(redirAddr)
	return direct{addr: net.JoinHostPort(host, strconv.Itoa(ManagementPort)), host: host, user: user, password: password}
}
