package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/client"
)

// defaultStateDir is the agent's state directory in the printed enroll command.
const defaultStateDir = "/var/lib/kvmagent"

func (a *app) devicesList(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices list", "[-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	devices, err := c.Devices(ctx)
	if err != nil {
		return err
	}
	if out.value == "json" {
		if devices == nil {
			devices = []client.Device{}
		}
		return writeJSON(a.stdout, devices)
	}
	t := newTable(a.stdout, "ID", "NAME", "KIND", "STATUS", "LAST SEEN", "AGENT", "LABELS", "AMT TAGS")
	for _, d := range devices {
		t.row(d.ID, d.Name, deviceKind(d), deviceStatus(d), tsp(d.LastSeen), d.AgentVersion, client.FormatLabels(d.Labels), formatTags(d.AMTTags))
	}
	return t.flush()
}

// tagsFlag collects a repeatable --amt-tag; the server checks and deduplicates.
type tagsFlag []string

func (f *tagsFlag) String() string { return formatTags(*f) }

func (f *tagsFlag) Set(s string) error {
	*f = append(*f, s)
	return nil
}

// formatTags writes AMT tags comma-separated, unsanitized (tables sanitize their cells).
func formatTags(tags []string) string { return strings.Join(tags, ",") }

// deviceKind is agent, gateway, or "amt via GW" for an AMT machine gateway GW serves.
func deviceKind(d client.Device) string {
	switch {
	case d.Kind == client.DeviceGateway:
		return "gateway"
	case d.Gateway != "":
		gw := d.GatewayName
		if gw == "" {
			gw = d.Gateway
		}
		return "amt via " + gw
	}
	return "agent"
}

// deviceStatus is revoked, online, offline, or not enrolled (never seen).
func deviceStatus(d client.Device) string {
	switch {
	case d.RevokedAt != nil:
		return "revoked"
	case d.Online:
		return "online"
	case d.LastSeen == nil:
		return "never seen"
	}
	return "offline"
}

func (a *app) devicesCreate(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices create", "NAME [--label KEY=VALUE]... [--gateway [--amt-tag TAG]... | --amt-gateway GW --amt-guid GUID] [-o table|json]")
	labels := kvFlag{}
	fs.Var(labels, "label", "a label KEY=VALUE (repeatable); roles can be scoped to labels")
	gateway := fs.Bool("gateway", false, "create a gateway: one kvmagent serving Intel AMT machines through MPS")
	var tags tagsFlag
	fs.Var(&tags, "amt-tag", "with --gateway: an MPS tag (repeatable); every machine the gateway reports that carries one gets its device")
	amtGateway := fs.String("amt-gateway", "", "create an Intel AMT machine served by this gateway (its id or name)")
	amtGUID := fs.String("amt-guid", "", "the AMT machine's GUID (8-4-4-4-12 hex digits), with --amt-gateway")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	nd := client.NewDevice{Name: pos[0], Labels: labels}
	switch {
	case *gateway && (*amtGateway != "" || *amtGUID != ""):
		return usageErr("devices create: --gateway makes a gateway, --amt-gateway and --amt-guid a machine it serves; give one or the other")
	case (*amtGateway == "") != (*amtGUID == ""):
		return usageErr("devices create: --amt-gateway and --amt-guid go together: the gateway that serves the machine and its AMT GUID")
	case len(tags) > 0 && !*gateway:
		return usageErr("devices create: --amt-tag goes with --gateway: only a gateway adopts the machines MPS tags")
	case *gateway:
		nd.Kind, nd.AMTTags = client.DeviceGateway, tags
	case *amtGateway != "":
		nd.AMT = &client.AMT{Gateway: *amtGateway, GUID: *amtGUID}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	d, err := c.CreateDeviceWith(ctx, nd)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, d)
	}
	switch {
	case d.Kind == client.DeviceGateway && len(d.AMTTags) > 0:
		fmt.Fprintf(a.stdout, "Created gateway %s with AMT tags %s.\nNext, mint its agent's enrollment token: kvmctl devices enroll-token %s\n"+
			"Once it runs, every machine it reports with one of these MPS tags gets its device; add others by hand: kvmctl devices create NAME --amt-gateway %s --amt-guid GUID\n",
			deviceName(d), client.Sanitize(formatTags(d.AMTTags)), client.Sanitize(d.ID), client.Sanitize(d.ID))
	case d.Kind == client.DeviceGateway:
		fmt.Fprintf(a.stdout, "Created gateway %s.\nNext, mint its agent's enrollment token: kvmctl devices enroll-token %s\n"+
			"and add each AMT machine it serves: kvmctl devices create NAME --amt-gateway %s --amt-guid GUID\n",
			deviceName(d), client.Sanitize(d.ID), client.Sanitize(d.ID))
	case d.Gateway != "":
		fmt.Fprintf(a.stdout, "Created device %s: AMT machine %s via gateway %s.\n"+
			"It has no agent of its own: it is online while the gateway reports it, and its console opens through the gateway.\n",
			deviceName(d), client.Sanitize(d.AMTGUID), client.Sanitize(d.GatewayName))
	default:
		fmt.Fprintf(a.stdout, "Created device %s.\nNext, mint its agent's enrollment token: kvmctl devices enroll-token %s\n",
			deviceName(d), client.Sanitize(d.ID))
	}
	return nil
}

func (a *app) devicesRevoke(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices revoke", "DEVICE")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	if err := c.RevokeDevice(ctx, d.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Revoked device %s: its agent's certificate is refused and its connections are cut.\n",
		deviceName(d))
	return nil
}

func (a *app) devicesDelete(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices delete", "DEVICE")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	if err := c.DeleteDevice(ctx, d.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Deleted device %s; its audit entries stay.\n", deviceName(d))
	return nil
}

func (a *app) devicesRename(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices rename", "DEVICE NEW-NAME [-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "DEVICE", "NEW-NAME")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	d, err := c.ResolveDevice(ctx, pos[0])
	if err != nil {
		return err
	}
	updated, err := c.UpdateDevice(ctx, d.ID, &pos[1], nil)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, updated)
	}
	fmt.Fprintf(a.stdout, "Renamed device %s to %s.\n", deviceName(d), client.Sanitize(updated.Name))
	return nil
}

func (a *app) devicesRelabel(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices relabel", "DEVICE [--label KEY=VALUE]... [-o table|json]")
	labels := kvFlag{}
	fs.Var(labels, "label", "a label KEY=VALUE (repeatable); the device gets exactly these (none: no labels)")
	out := outputFlag(fs.FlagSet, "table", "json")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	updated, err := c.UpdateDevice(ctx, d.ID, nil, labels)
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, updated)
	}
	fmt.Fprintf(a.stdout, "Device %s now has labels: %s\n", deviceName(updated), client.Sanitize(client.FormatLabels(updated.Labels)))
	return nil
}

// devicesRetag replaces a gateway's AMT tags as relabel replaces labels: exactly the tags
// given, none when no --amt-tag is given.
func (a *app) devicesRetag(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices retag", "GATEWAY [--amt-tag TAG]... [-o table|json]")
	var tags tagsFlag
	fs.Var(&tags, "amt-tag", "an MPS tag (repeatable); the gateway gets exactly these (none: no tags, it adopts no more machines)")
	out := outputFlag(fs.FlagSet, "table", "json")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	if tags == nil {
		tags = tagsFlag{} // none given: clear them, as relabel without --label clears labels
	}
	updated, err := c.UpdateDeviceWith(ctx, d.ID, client.DeviceChange{AMTTags: tags})
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, updated)
	}
	if len(updated.AMTTags) == 0 {
		fmt.Fprintf(a.stdout, "Gateway %s has no AMT tags now: it adopts no more machines (those it adopted stay).\n", deviceName(updated))
		return nil
	}
	fmt.Fprintf(a.stdout, "Gateway %s now adopts the machines it reports with MPS tags: %s\n", deviceName(updated), client.Sanitize(formatTags(updated.AMTTags)))
	return nil
}

func (a *app) devicesEnrollToken(ctx context.Context, args []string) error {
	fs := a.cmdFlags("devices enroll-token", "DEVICE [--state-dir DIR] [-o table|json]")
	stateDir := fs.String("state-dir", defaultStateDir, "the agent's state directory, for the printed kvmagent command")
	out := outputFlag(fs.FlagSet, "table", "json")
	c, d, err := a.deviceArg(ctx, fs, args)
	if err != nil {
		return err
	}
	tok, err := c.CreateEnrollmentToken(ctx, d.ID)
	if err != nil {
		return err
	}
	command := fmt.Sprintf("kvmagent enroll --server %s --token %s --state-dir %s",
		shellQuote(c.Server()), shellQuote(tok.Token), shellQuote(*stateDir))
	if out.value == "json" {
		return writeJSON(a.stdout, struct {
			client.EnrollmentToken
			Command string `json:"command"`
		}{tok, command})
	}
	fmt.Fprintf(a.stdout, "Enrollment token for device %s, single use, expires %s (%s):\n%s\n\nOn the machine, run:\n  %s\n",
		deviceName(d), ts(tok.ExpiresAt), until(tok.ExpiresAt, a.now()),
		client.Sanitize(tok.Token), client.Sanitize(command))
	return nil
}
