package amt

import (
	"context"
	"fmt"

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
	n, err := s.mgmt.powerState(ctx)
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
	if err := s.mgmt.powerAction(ctx, state); err != nil {
		return fmt.Errorf("%s: power %s: %w", s, action, err)
	}
	return nil
}

var _ device.PowerControl = (*Source)(nil)
