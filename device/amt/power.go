package amt

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/kvmrelay/kvmrelay/amt/mps"
	"github.com/kvmrelay/kvmrelay/amt/wsman"
	"github.com/kvmrelay/kvmrelay/device"
)

// ManagementPort is AMT's WS-Man port, where direct mode reads and switches power.
const ManagementPort = 16992

// dmtfAction is the DMTF power state a power action asks for (CIM_PowerManagementService).
var dmtfAction = map[device.PowerAction]int{
	device.ActionOn:    mps.PowerOn,
	device.ActionOff:   mps.PowerOffSoft,
	device.ActionReset: mps.PowerReset,
	device.ActionCycle: mps.PowerCycle,
}

// powerStateOf names a DMTF power state.
func powerStateOf(dmtf int) device.PowerState {
	switch dmtf {
	case wsman.PowerOn:
		return device.PowerOn
	case wsman.PowerSleepLight, wsman.PowerSleepDeep, wsman.PowerHibernate:
		return device.PowerSleep
	case wsman.PowerOffSoft, wsman.PowerOffHard, wsman.PowerOffSoftGrace, wsman.PowerOffHardGrace:
		return device.PowerOff
	}
	return device.PowerUnknown
}

// PowerState reads the machine's power through MPS, or directly over WS-Man.
func (s *Source) PowerState(ctx context.Context) (device.PowerState, error) {
	var n int
	var err error
	if s.spec.viaMPS {
		n, err = s.mps.PowerState(ctx, s.spec.guid)
	} else {
		c := s.wsman()
		defer c.Close()
		n, err = c.PowerState(ctx)
	}
	if err != nil {
		return device.PowerUnknown, fmt.Errorf("%s: power state: %w", s, err)
	}
	return powerStateOf(n), nil
}

// Power asks AMT for a power action.
func (s *Source) Power(ctx context.Context, action device.PowerAction) error {
	state, ok := dmtfAction[action]
	if !ok {
		return fmt.Errorf("%s: unknown power action %q", s, action)
	}
	if s.spec.viaMPS {
		if err := s.mps.PowerAction(ctx, s.spec.guid, state); err != nil {
			return fmt.Errorf("%s: power %s: %w", s, action, err)
		}
		return nil
	}
	c := s.wsman()
	defer c.Close()
	rv, err := c.RequestPowerStateChange(ctx, state)
	if err != nil {
		return fmt.Errorf("%s: power %s: %w", s, action, err)
	}
	if rv != wsman.ReturnSuccess {
		return fmt.Errorf("%s: power %s: AMT answered ReturnValue %d", s, action, rv)
	}
	return nil
}

// wsman is a WS-Man client to AMT's own management port (direct mode).
func (s *Source) wsman() *wsman.Client {
	host, _, _ := net.SplitHostPort(s.spec.addr)
	addr := net.JoinHostPort(host, strconv.Itoa(ManagementPort))
	return wsman.NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}, s.spec.user, s.password, wsman.WithHost(host))
}

var _ device.PowerControl = (*Source)(nil)
