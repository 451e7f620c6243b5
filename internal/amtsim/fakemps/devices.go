package fakemps

import (
	"context"
	"errors"
	"net"
)

// ErrLinkDown is what a conn from Devices.DialRedirection returns from Read (wrapped) when
// the device's CIRA link dropped, as opposed to io.EOF when the device closed the channel.
// The relay then leaves the WebSocket open, as the real MPS does.
var ErrLinkDown = errors.New("fakemps: the device's CIRA link is down")

// Devices are the devices behind the fake MPS. GUIDs are lowercase: like MPS, the fake looks
// them up exactly as a request spells them, so an uppercase GUID misses.
type Devices interface {
	// Known says whether MPS has a record of the device (its database row).
	Known(guid string) bool
	// Connected says whether the device's CIRA link is up.
	Connected(guid string) bool
	// List returns every known device.
	List() []DeviceInfo
	// DialRedirection opens a channel to the device's port 16994 with MPS's redirection
	// digest injection already applied. Its Read returns io.EOF when the device closes the
	// channel and an error wrapping ErrLinkDown when the CIRA link drops.
	DialRedirection(ctx context.Context, guid string) (net.Conn, error)
	// Management is the device's WS-Man side (port 16992); only called for connected devices.
	Management(guid string) Management
}

// DeviceInfo is a device's record.
type DeviceInfo struct {
	GUID         string
	Hostname     string
	FriendlyName string
	DNSSuffix    string
	Tags         []string
	MPSUsername  string
	TenantID     string
}

// Management is what MPS asks AMT over WS-Man. Methods that run an AMT method return its
// ReturnValue (0 is success); an error means the call itself failed (MPS answers 500).
type Management interface {
	// PowerState is CIM_AssociatedPowerManagementService.PowerState (2 on, 8 off, …).
	PowerState(ctx context.Context) (int, error)
	RequestPowerStateChange(ctx context.Context, state int) (int, error)
	Features(ctx context.Context) (Features, error)
	// StartOptIn, SendOptInCode and CancelOptIn are IPS_OptInService's methods.
	StartOptIn(ctx context.Context) (int, error)
	SendOptInCode(ctx context.Context, code int) (int, error)
	CancelOptIn(ctx context.Context) (int, error)
	Displays(ctx context.Context) ([]Display, error)
	SetDefaultDisplay(ctx context.Context, index int) error
}

// IPS_OptInService.OptInRequired values.
const (
	OptInNone uint32 = 0
	OptInKVM  uint32 = 1
	OptInAll  uint32 = 0xFFFFFFFF
)

// Features is what MPS reads from AMT_RedirectionService, IPS_OptInService and
// CIM_KVMRedirectionSAP.
type Features struct {
	OptInRequired uint32 // OptInNone, OptInKVM or OptInAll
	OptInState    int    // 0 not started … 4 in session
	Redirection   bool   // AMT_RedirectionService.ListenerEnabled
	SOL, IDER     bool
	KVM           bool // CIM_KVMRedirectionSAP enabled (or enabled but offline)
	KVMAvailable  bool // the platform has a CIM_KVMRedirectionSAP at all
}

// Display is one screen of IPS_ScreenSettingData.
type Display struct {
	Index                  int
	Active                 bool
	UpperLeftX, UpperLeftY int
	ResolutionX            int
	ResolutionY            int
	Default                bool   // IPS_KVMRedirectionSettingData.DefaultScreen
	Role                   string // "primary", "secondary", … or ""
}
