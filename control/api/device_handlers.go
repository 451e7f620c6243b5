package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// The device handlers parse and answer; control/device.Service does the work (scope,
// validation, transactions, audit).

type devicesList struct {
	Devices []deviceView `json:"devices"`
}

func (a *API) listDevices(c *fiber.Ctx) error {
	ds, err := a.devices.List(c.UserContext(), principalOf(c))
	if err != nil {
		return a.failErr(c, err)
	}
	out := devicesList{Devices: make([]deviceView, 0, len(ds))}
	for _, d := range ds {
		out.Devices = append(out.Devices, a.device(d))
	}
	return c.JSON(out)
}

type deviceRequest struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	// Kind "gateway" creates a gateway; empty or "agent" a device with a screen.
	Kind store.DeviceKind `json:"kind,omitempty"`
	// AMT creates a device a gateway serves: an Intel AMT machine behind it.
	AMT *amtRequest `json:"amt,omitempty"`
	// AMTTags, for a gateway, are the MPS tags of the machines it adopts.
	AMTTags []string `json:"amt_tags,omitempty"`
}

type amtRequest struct {
	Gateway string `json:"gateway"` // the gateway's device id or name
	GUID    string `json:"guid"`
}

func (a *API) createDevice(c *fiber.Ctx) error {
	var req deviceRequest
	if !body(c, &req) {
		return nil
	}
	nd := device.NewDevice{Name: req.Name, Labels: req.Labels, Kind: req.Kind, AMTTags: req.AMTTags}
	if req.AMT != nil {
		nd.AMT = &device.AMT{Gateway: req.AMT.Gateway, GUID: req.AMT.GUID}
	}
	d, err := a.devices.Create(c.UserContext(), principalOf(c), nd)
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(a.device(d))
}

func (a *API) getDevice(c *fiber.Ctx) error {
	d, err := a.devices.Get(c.UserContext(), principalOf(c), c.Params("id"))
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(a.device(d))
}

type patchDeviceRequest struct {
	Name   *string            `json:"name"`
	Labels *map[string]string `json:"labels"`
	// AMTTags replaces a gateway's MPS tags ([]: none); a 400 for any other device.
	AMTTags *[]string `json:"amt_tags"`
}

func (a *API) patchDevice(c *fiber.Ctx) error {
	var req patchDeviceRequest
	if !body(c, &req) {
		return nil
	}
	d, err := a.devices.Update(c.UserContext(), principalOf(c), c.Params("id"),
		device.Change{Name: req.Name, Labels: req.Labels, AMTTags: req.AMTTags})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(a.device(d))
}

// removeDevice revokes a device (it stays listed, revoked); with ?purge=true it deletes a
// device already revoked, and refuses one that is not (409): revoking is the step that cuts
// the agent off, so it is never skipped.
func (a *API) removeDevice(c *fiber.Ctx) error {
	p, id := principalOf(c), c.Params("id")
	var err error
	if c.QueryBool("purge") {
		err = a.devices.Delete(c.UserContext(), p, id)
	} else {
		err = a.devices.Revoke(c.UserContext(), p, id)
	}
	if err != nil {
		return a.failErr(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type enrollmentTokenView struct {
	Token     string    `json:"token"`
	DeviceID  string    `json:"device_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a *API) enrollmentToken(c *fiber.Ctx) error {
	tok, err := a.devices.IssueEnrollmentToken(c.UserContext(), principalOf(c), c.Params("id"))
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(enrollmentTokenView{Token: tok.Token, DeviceID: tok.DeviceID, ExpiresAt: tok.ExpiresAt})
}

// deviceInScope reads a device the principal may see, inside the caller's transaction; one
// outside its scope is not found.
func (a *API) deviceInScope(ctx context.Context, tx store.Tx, p accounts.Principal, id string) (store.Device, error) {
	return device.InScope(ctx, tx, p, id)
}
