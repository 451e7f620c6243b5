package wsman

// Power states of CIM_AssociatedPowerManagementService.PowerState and the
// requests of CIM_PowerManagementService.RequestPowerStateChange (DMTF DSP1027;
// MPS's power actions 2–17 pass straight through).
const (
	PowerOn             = 2  // on (S0)
	PowerSleepLight     = 3  // sleep, light (S1/S2)
	PowerSleepDeep      = 4  // sleep, deep (S3)
	PowerCycleSoft      = 5  // power cycle (off soft)
	PowerOffHard        = 6  // off, hard (G3)
	PowerHibernate      = 7  // hibernate (S4)
	PowerOffSoft        = 8  // off, soft (S5)
	PowerCycleHard      = 9  // power cycle (off hard)
	PowerMasterBusReset = 10 // reset
	PowerNMI            = 11 // diagnostic interrupt
	PowerOffSoftGrace   = 12 // off, soft graceful
	PowerOffHardGrace   = 13 // off, hard graceful
	PowerResetGraceful  = 14 // master bus reset graceful
)

// ReturnValue codes AMT puts in a method's _OUTPUT (PT_STATUS_*).
const (
	ReturnSuccess          = 0
	ReturnInternalError    = 1
	ReturnNotReady         = 2 // e.g. StartOptIn while a code is already pending
	ReturnNotPermitted     = 16
	ReturnInvalidParameter = 36
	// ReturnUnsupported (0x812) is what AMT answers when the operation is not
	// available, and — per comments in Intel's MPS — to SendOptInCode with a
	// wrong code. Unconfirmed on hardware: Intel's own sources disagree (one
	// MPS branch reads 4 as "wrong code").
	ReturnUnsupported = 2066
)

// IPS_OptInService.OptInRequired values.
const (
	OptInNone uint32 = 0          // no user consent needed
	OptInKVM  uint32 = 1          // consent needed for KVM only
	OptInAll  uint32 = 0xFFFFFFFF // consent needed for all redirection
)

// IPS_OptInService.OptInState values.
const (
	OptInStateNotStarted = 0
	OptInStateRequested  = 1
	OptInStateDisplayed  = 2 // a code is on the managed machine's screen
	OptInStateReceived   = 3 // the right code was sent; a session may start
	OptInStateInSession  = 4
)

// AMT_RedirectionService.EnabledState is 32768 plus these bits.
const (
	RedirectionBase = 32768
	RedirectionIDER = 1
	RedirectionSOL  = 2
)

// CIM_KVMRedirectionSAP EnabledState values MPS reads.
const (
	KVMEnabled        = 2
	KVMDisabled       = 3
	KVMEnabledOffline = 6 // enabled, no session
)

// Features is what the three service instances MPS reads for
// GET /api/v1/amt/features say about redirection, KVM and user consent.
type Features struct {
	// RedirectionState is AMT_RedirectionService.EnabledState:
	// RedirectionBase plus RedirectionIDER and RedirectionSOL bits.
	RedirectionState int
	// ListenerEnabled is AMT_RedirectionService.ListenerEnabled: the
	// redirection port accepts sessions at all.
	ListenerEnabled bool
	// KVMAvailable says the device has a CIM_KVMRedirectionSAP (a device
	// without KVM answers its Get with a fault).
	KVMAvailable bool
	// KVMEnabledState and KVMRequestedState are CIM_KVMRedirectionSAP's.
	KVMEnabledState   int
	KVMRequestedState int
	// OptInRequired is IPS_OptInService.OptInRequired (OptInNone, OptInKVM,
	// OptInAll); OptInState is its OptInState (OptInState* constants).
	OptInRequired uint32
	OptInState    int
}

// Redirection reports what MPS calls "redirection": the listener is on.
func (f Features) Redirection() bool { return f.ListenerEnabled }

// SOL reports whether serial-over-LAN is enabled, as MPS computes it.
func (f Features) SOL() bool { return f.RedirectionState&RedirectionSOL != 0 }

// IDER reports whether IDE redirection is enabled, as MPS computes it.
func (f Features) IDER() bool { return f.RedirectionState&RedirectionIDER != 0 }

// KVM reports whether KVM is enabled (enabled, or enabled but offline).
func (f Features) KVM() bool {
	return f.KVMAvailable && (f.KVMEnabledState == KVMEnabled || f.KVMEnabledState == KVMEnabledOffline)
}

// UserConsent names OptInRequired as MPS does: "none", "kvm" or "all"; ""
// for a value MPS has no name for.
func (f Features) UserConsent() string {
	switch f.OptInRequired {
	case OptInNone:
		return "none"
	case OptInKVM:
		return "kvm"
	case OptInAll:
		return "all"
	}
	return ""
}

// Display roles, from IPS_ScreenSettingData's Primary/Secondary/Tertiary/
// QuadraryIndex.
const (
	RolePrimary    = "primary"
	RoleSecondary  = "secondary"
	RoleTertiary   = "tertiary"
	RoleQuaternary = "quaternary"
)

// Display is one screen as MPS's GET /api/v1/amt/kvm/displays reports it,
// built from IPS_ScreenSettingData and IPS_KVMRedirectionSettingData.
type Display struct {
	Index       int    `json:"displayIndex"`
	IsActive    bool   `json:"isActive"`
	UpperLeftX  int    `json:"upperLeftX"`
	UpperLeftY  int    `json:"upperLeftY"`
	ResolutionX int    `json:"resolutionX"`
	ResolutionY int    `json:"resolutionY"`
	IsDefault   bool   `json:"isDefault"`
	Role        string `json:"role,omitempty"`
}
