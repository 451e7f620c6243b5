package mps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Device is MPS's record of a device (GET /devices).
type Device struct {
	GUID             string      `json:"guid"`
	Hostname         string      `json:"hostname"`
	FriendlyName     string      `json:"friendlyName"`
	DNSSuffix        string      `json:"dnsSuffix"`
	Tags             []string    `json:"tags"`
	ConnectionStatus bool        `json:"connectionStatus"` // the CIRA link is up
	MPSInstance      string      `json:"mpsInstance"`
	MPSUsername      string      `json:"mpsusername"`
	TenantID         string      `json:"tenantId"`
	LastConnected    *time.Time  `json:"lastConnected,omitempty"`
	LastSeen         *time.Time  `json:"lastSeen,omitempty"`
	LastDisconnected *time.Time  `json:"lastDisconnected,omitempty"`
	DeviceInfo       *DeviceInfo `json:"deviceInfo,omitempty"`
}

// DeviceInfo is what MPS learned about the firmware.
type DeviceInfo struct {
	FWVersion   string `json:"fwVersion"`
	FWBuild     string `json:"fwBuild"`
	FWSku       string `json:"fwSku"`
	CurrentMode string `json:"currentMode"`
	Features    string `json:"features"`
	IPAddress   string `json:"ipAddress"`
}

// RedirectStatus says which redirection sessions MPS relays to a device now.
type RedirectStatus struct {
	KVM  bool `json:"isKVMConnected"`
	SOL  bool `json:"isSOLConnected"`
	IDER bool `json:"isIDERConnected"`
}

const (
	devicesPage = 100    // $top per request; MPS returns 25 when none is given
	maxDevices  = 100000 // stop paging here: a runaway server must not exhaust memory
)

// Devices lists every device MPS knows, paging through MPS's $top/$skip.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var all []Device
	for skip := 0; ; skip += devicesPage {
		path := fmt.Sprintf("%s/devices?$top=%d&$skip=%d", c.paths.API, devicesPage, skip)
		r, err := c.call(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return nil, r.statusError(http.MethodGet, c.paths.API+"/devices")
		}
		var page []Device
		if err := decode(r, "device list", &page); err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < devicesPage {
			return all, nil
		}
		if len(all) >= maxDevices {
			return nil, fmt.Errorf("mps: MPS lists more than %d devices", maxDevices)
		}
	}
}

// Device is MPS's record of one device. ErrNotFound when MPS has none (or, with tenants, it
// belongs to another tenant: MPS answers 204).
func (c *Client) Device(ctx context.Context, guid string) (Device, error) {
	g, err := normGUID(guid)
	if err != nil {
		return Device{}, err
	}
	path := c.paths.API + "/devices/" + g
	r, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Device{}, err
	}
	switch r.status {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusNoContent:
		return Device{}, fmt.Errorf("mps: device %s: %w", g, ErrNotFound)
	default:
		return Device{}, r.statusError(http.MethodGet, path)
	}
	var d Device
	if err := decode(r, "device", &d); err != nil {
		return Device{}, err
	}
	return d, nil
}

// RedirectionToken asks for the short-lived (5 min) token that opens the relay WebSocket to
// one device. ErrNotFound when MPS has no such device; a known but disconnected device still
// gets one.
func (c *Client) RedirectionToken(ctx context.Context, guid string) (string, error) {
	g, err := normGUID(guid)
	if err != nil {
		return "", err
	}
	path := c.paths.API + "/authorize/redirection/" + g
	r, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	switch r.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", fmt.Errorf("mps: redirection token for %s: %w", g, ErrNotFound)
	default:
		return "", r.statusError(http.MethodGet, path)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := decode(r, "redirection token", &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", errors.New("mps: MPS sent an empty redirection token")
	}
	return out.Token, nil
}

// RedirectStatus says which sessions MPS relays to the device. ErrNotConnected when its CIRA
// link is down (MPS answers 404 for devices it does not hold a link to).
func (c *Client) RedirectStatus(ctx context.Context, guid string) (RedirectStatus, error) {
	var s RedirectStatus
	err := c.ciraGet(ctx, guid, "/devices/redirectstatus/", "redirection status", &s)
	return s, err
}

// ciraGet GETs a route MPS serves only for connected devices (404 otherwise) and decodes it.
func (c *Client) ciraGet(ctx context.Context, guid, route, what string, out any) error {
	g, err := normGUID(guid)
	if err != nil {
		return err
	}
	r, path, err := c.ciraCall(ctx, http.MethodGet, route, g, nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return r.statusError(http.MethodGet, path)
	}
	return decode(r, what, out)
}

// ciraCall calls API+route+guid and maps 404 to ErrNotConnected.
func (c *Client) ciraCall(ctx context.Context, method, route, g string, in any) (reply, string, error) {
	path := c.paths.API + route + g
	r, err := c.call(ctx, method, path, in)
	if err != nil {
		return reply{}, path, err
	}
	if r.status == http.StatusNotFound {
		return reply{}, path, fmt.Errorf("mps: %s %s: %w", method, path, ErrNotConnected)
	}
	return r, path, nil
}
