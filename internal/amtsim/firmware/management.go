package firmware

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/wsman"
)

// ConsentMode is when the simulated AMT asks for user consent.
type ConsentMode string

// Consent modes (IPS_OptInService.OptInRequired).
const (
	ConsentNone ConsentMode = "none"
	ConsentKVM  ConsentMode = "kvm"
	ConsentAll  ConsentMode = "all"
)

// ParseConsentMode reads a --consent flag.
func ParseConsentMode(s string) (ConsentMode, error) {
	switch m := ConsentMode(s); m {
	case ConsentNone, ConsentKVM, ConsentAll:
		return m, nil
	}
	return "", fmt.Errorf("consent mode %q: want none, kvm or all", s)
}

func (m ConsentMode) optInRequired() uint32 {
	switch m {
	case ConsentKVM:
		return wsman.OptInKVM
	case ConsentAll:
		return wsman.OptInAll
	}
	return wsman.OptInNone
}

// Management is the simulated machine's state that WS-Man reads and changes: its power, the
// user consent state machine, and its screens. It implements wsman.Firmware.
type Management struct {
	log *slog.Logger
	now func() time.Time
	// codeWindow is how long a consent code stays valid (AMT: about 300 s).
	codeWindow time.Duration
	// onCode is told each consent code drawn, for the picture and for tests.
	onCode func(code string)

	mu       sync.Mutex
	power    int
	consent  ConsentMode
	optIn    int
	code     string
	codeAt   time.Time
	displays []wsman.Display
	actions  []int
}

// ManagementConfig sets up a Management.
type ManagementConfig struct {
	// Power is the initial power state (wsman.PowerOn when zero).
	Power   int
	Consent ConsentMode
	// Screens is how many displays the machine has (1 when zero); each is Width×Height.
	Screens       int
	Width, Height int
	// CodeWindow is how long a consent code is valid; 300 s when zero.
	CodeWindow time.Duration
	// OnCode is told every consent code drawn.
	OnCode func(code string)
	Logger *slog.Logger
	Now    func() time.Time
}

// NewManagement makes the state of one simulated machine.
func NewManagement(cfg ManagementConfig) *Management {
	if cfg.Power == 0 {
		cfg.Power = wsman.PowerOn
	}
	if cfg.Consent == "" {
		cfg.Consent = ConsentNone
	}
	if cfg.Screens <= 0 {
		cfg.Screens = 1
	}
	if cfg.CodeWindow <= 0 {
		cfg.CodeWindow = 300 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Management{log: cfg.Logger, now: cfg.Now, codeWindow: cfg.CodeWindow, onCode: cfg.OnCode,
		power: cfg.Power, consent: cfg.Consent}
	roles := []string{wsman.RolePrimary, wsman.RoleSecondary, wsman.RoleTertiary, wsman.RoleQuaternary}
	for i := range min(cfg.Screens, len(roles)) {
		m.displays = append(m.displays, wsman.Display{Index: i, IsActive: true, UpperLeftX: i * cfg.Width,
			ResolutionX: cfg.Width, ResolutionY: cfg.Height, IsDefault: i == 0, Role: roles[i]})
	}
	return m
}

// PowerState is the machine's DMTF power state.
func (m *Management) PowerState() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.power
}

// RequestPowerStateChange applies a power action: on, off (soft, hard, graceful), reset and
// power cycle leave the machine on; sleep and hibernate as asked.
func (m *Management) RequestPowerStateChange(state int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.actions = append(m.actions, state)
	switch state {
	case wsman.PowerOn, wsman.PowerMasterBusReset, wsman.PowerResetGraceful, wsman.PowerCycleSoft, wsman.PowerCycleHard:
		if state != wsman.PowerOn && m.power != wsman.PowerOn {
			return wsman.ReturnNotReady // a reset needs a running machine
		}
		m.power = wsman.PowerOn
	case wsman.PowerOffSoft, wsman.PowerOffHard, wsman.PowerOffSoftGrace, wsman.PowerOffHardGrace:
		m.power = wsman.PowerOffSoft
	case wsman.PowerSleepLight, wsman.PowerSleepDeep, wsman.PowerHibernate:
		m.power = state
	default:
		return wsman.ReturnInvalidParameter
	}
	m.log.Info("amtsim: power action", "action", state, "power_state", m.power)
	return wsman.ReturnSuccess
}

// PowerActions lists the actions asked, in order (for tests).
func (m *Management) PowerActions() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.actions...)
}

// Features reports redirection and KVM on, and the consent state.
func (m *Management) Features() wsman.Features {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
	return wsman.Features{RedirectionState: wsman.RedirectionBase | wsman.RedirectionSOL | wsman.RedirectionIDER,
		ListenerEnabled: true, KVMAvailable: true, KVMEnabledState: wsman.KVMEnabledOffline, KVMRequestedState: wsman.KVMEnabled,
		OptInRequired: m.consent.optInRequired(), OptInState: m.optIn}
}

// StartOptIn draws a new 6-digit code and shows it on the machine's screen.
func (m *Management) StartOptIn() int {
	m.mu.Lock()
	m.expireLocked()
	if m.consent == ConsentNone {
		m.mu.Unlock()
		return wsman.ReturnUnsupported
	}
	if m.optIn == wsman.OptInStateDisplayed || m.optIn == wsman.OptInStateInSession {
		m.mu.Unlock()
		return wsman.ReturnNotReady
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		m.mu.Unlock()
		return wsman.ReturnInternalError
	}
	m.code, m.codeAt, m.optIn = fmt.Sprintf("%06d", n.Int64()), m.now(), wsman.OptInStateDisplayed
	code, on := m.code, m.onCode
	m.mu.Unlock()
	// Printed so that tests and a person running the simulator can read it, as a person reads
	// it off the machine's screen.
	m.log.Info("amtsim: user consent code displayed on the machine's screen", "code", code)
	if on != nil {
		on(code)
	}
	return wsman.ReturnSuccess
}

// SendOptInCode checks a code: the right one while displayed moves consent to received.
func (m *Management) SendOptInCode(code int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
	if m.optIn != wsman.OptInStateDisplayed {
		return wsman.ReturnNotPermitted
	}
	if fmt.Sprintf("%06d", code) != m.code {
		m.log.Info("amtsim: wrong user consent code")
		return wsman.ReturnUnsupported // what AMT answers a wrong code, per Intel's MPS
	}
	m.optIn, m.code = wsman.OptInStateReceived, ""
	m.log.Info("amtsim: user consent given")
	return wsman.ReturnSuccess
}

// CancelOptIn withdraws a request or a consent.
func (m *Management) CancelOptIn() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.optIn, m.code = wsman.OptInStateNotStarted, ""
	return wsman.ReturnSuccess
}

// Code is the consent code on the screen now ("" when none).
func (m *Management) Code() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
	return m.code
}

// expireLocked ends a displayed code past its window.
func (m *Management) expireLocked() {
	if m.optIn == wsman.OptInStateDisplayed && m.now().Sub(m.codeAt) >= m.codeWindow {
		m.optIn, m.code = wsman.OptInStateNotStarted, ""
	}
}

// admitKVM decides whether a KVM session may start now: consent must have been given when it
// is required; the session then holds it until endKVM.
func (m *Management) admitKVM() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
	if m.consent != ConsentNone && m.optIn != wsman.OptInStateReceived {
		return fmt.Errorf("amtsim: KVM refused: user consent required (opt-in state %d)", m.optIn)
	}
	if m.consent != ConsentNone {
		m.optIn = wsman.OptInStateInSession
	}
	return nil
}

func (m *Management) endKVM() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.optIn == wsman.OptInStateInSession {
		m.optIn = wsman.OptInStateNotStarted
	}
}

// Displays lists the screens.
func (m *Management) Displays() []wsman.Display {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]wsman.Display(nil), m.displays...)
}

// SetDefaultDisplay makes screen index the one KVM shows.
func (m *Management) SetDefaultDisplay(index int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if index < 0 || index >= len(m.displays) {
		return fmt.Errorf("amtsim: no display %d (the machine has %d)", index, len(m.displays))
	}
	for i := range m.displays {
		m.displays[i].IsDefault = i == index
	}
	return nil
}

// DefaultDisplay is the index of the screen KVM shows.
func (m *Management) DefaultDisplay() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, d := range m.displays {
		if d.IsDefault {
			return i
		}
	}
	return 0
}

var _ wsman.Firmware = (*Management)(nil)
