package device

import "context"

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
