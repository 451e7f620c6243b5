package client

import (
	"context"
	"fmt"
	"sort"
)

// ResolveDevice finds the device ref names: a device whose id is ref, else the one device named
// ref. Of several devices with that name, revoked ones give way to the one that is not; any
// other tie is an *AmbiguousError listing the candidates, and no match a *DeviceNotFoundError.
func (c *Client) ResolveDevice(ctx context.Context, ref string) (Device, error) {
	if ref == "" {
		return Device{}, &UsageError{Msg: "a device id or name is required"}
	}
	devices, err := c.Devices(ctx)
	if err != nil {
		return Device{}, fmt.Errorf("resolve device %q: %w", ref, err)
	}
	return pickDevice(ref, devices)
}

func pickDevice(ref string, devices []Device) (Device, error) {
	var named, live []Device
	for _, d := range devices {
		if d.ID == ref {
			return d, nil
		}
		if d.Name == ref {
			named = append(named, d)
			if d.RevokedAt == nil {
				live = append(live, d)
			}
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(live) == 1:
		return live[0], nil
	case len(named) == 0:
		return Device{}, &DeviceNotFoundError{Ref: ref}
	}
	sort.SliceStable(named, func(i, j int) bool { return named[i].CreatedAt.Before(named[j].CreatedAt) })
	return Device{}, &AmbiguousError{Ref: ref, Candidates: named}
}
