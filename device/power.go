package device

import (
	"context"
	"errors"
)

// ErrPoweredOff is what a source's Open wraps when its machine is off (it knows, having
// power control): the no-signal card says "Powered off" and points at the power menu.
var ErrPoweredOff = errors.New("the machine is powered off")

// PowerState is a machine's power as a source that controls it reports it.
type PowerState string

// Power states.
const (
	PowerOn      PowerState = "on"
	PowerOff     PowerState = "off"
	PowerSleep   PowerState = "sleep"
	PowerUnknown PowerState = "unknown"
)

// PowerAction is what an operator asks of a machine's power.
type PowerAction string

// Power actions: on; off (hard, as a power button held); reset; power cycle.
const (
	ActionOn    PowerAction = "on"
	ActionOff   PowerAction = "off"
	ActionReset PowerAction = "reset"
	ActionCycle PowerAction = "cycle"
)

// PowerControl is implemented by a Source that can read and switch its machine's power out of
// band (Intel AMT), so the console can power on a machine that is off.
type PowerControl interface {
	PowerState(ctx context.Context) (PowerState, error)
	Power(ctx context.Context, action PowerAction) error
}
