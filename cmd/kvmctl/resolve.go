package main

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/client"
)

// deviceArg parses a command whose one argument is DEVICE (an id or a unique name) and
// resolves it on the server.
func (a *app) deviceArg(ctx context.Context, fs *command, args []string) (*client.Client, client.Device, error) {
	pos, err := a.parse(fs, args, "DEVICE")
	if err != nil {
		return nil, client.Device{}, err
	}
	c, err := a.client()
	if err != nil {
		return nil, client.Device{}, err
	}
	d, err := c.ResolveDevice(ctx, pos[0])
	return c, d, err
}

// userArg parses a command whose one argument is USER (an id or an email) and resolves it.
func (a *app) userArg(ctx context.Context, fs *command, args []string) (*client.Client, client.User, error) {
	pos, err := a.parse(fs, args, "USER")
	if err != nil {
		return nil, client.User{}, err
	}
	c, err := a.client()
	if err != nil {
		return nil, client.User{}, err
	}
	u, err := c.ResolveUser(ctx, pos[0])
	return c, u, err
}

// deviceName is how output names a device: its name and id, both server text made safe for
// the terminal.
func deviceName(d client.Device) string {
	return fmt.Sprintf("%s (%s)", client.Sanitize(d.Name), client.Sanitize(d.ID))
}
