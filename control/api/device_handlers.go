package api

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// Limits on what an admin may store about a device.
const (
	maxNameLen   = 128
	maxLabels    = 32
	maxLabelText = 64
)

func validDeviceFields(name string, labels map[string]string) error {
	if name == "" || len(name) > maxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("name must be 1 to %d bytes of UTF-8: %w", maxNameLen, store.ErrInvalid)
	}
	if len(labels) > maxLabels {
		return fmt.Errorf("at most %d labels: %w", maxLabels, store.ErrInvalid)
	}
	for k, v := range labels {
		if k == "" || len(k) > maxLabelText || len(v) > maxLabelText || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("label keys are 1 to %d bytes and values up to %d: %w", maxLabelText, maxLabelText, store.ErrInvalid)
		}
	}
	return nil
}

// deviceInScope reads a device the principal may see; one outside its scope is not found.
func (a *API) deviceInScope(ctx context.Context, tx store.Tx, p accounts.Principal, id string) (store.Device, error) {
	d, err := tx.Device(ctx, id)
	if err != nil {
		return d, err
	}
	if !p.SeesDevice(d.Labels) {
		return store.Device{}, fmt.Errorf("device %s outside the principal's scope: %w", id, store.ErrNotFound)
	}
	return d, nil
}

type devicesList struct {
	Devices []deviceView `json:"devices"`
}

func (a *API) listDevices(c *fiber.Ctx) error {
	p := principalOf(c)
	out := devicesList{Devices: []deviceView{}}
	err := a.cfg.Store.Read(c.UserContext(), p.OrgID, func(tx store.Tx) error {
		ds, err := tx.Devices(c.UserContext())
		for _, d := range ds {
			if p.SeesDevice(d.Labels) {
				out.Devices = append(out.Devices, a.device(d))
			}
		}
		return err
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(out)
}

type deviceRequest struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

func (a *API) createDevice(c *fiber.Ctx) error {
	var req deviceRequest
	if !body(c, &req) {
		return nil
	}
	if err := validDeviceFields(req.Name, req.Labels); err != nil {
		return a.failErr(c, err)
	}
	p := principalOf(c)
	if !p.SeesDevice(req.Labels) {
		return fail(c, fiber.StatusForbidden, CodeForbidden, "You may only create devices inside your label scope; add its labels.")
	}
	ctx := c.UserContext()
	var d store.Device
	err := a.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		if d, err = tx.CreateDevice(ctx, store.Device{Name: req.Name, Labels: req.Labels, CreatedAt: a.now()}); err != nil {
			return err
		}
		return a.audit(ctx, tx, p.String(), store.AuditDeviceCreate, "device:"+d.ID, map[string]string{"name": d.Name})
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(a.device(d))
}

func (a *API) getDevice(c *fiber.Ctx) error {
	p := principalOf(c)
	var d store.Device
	err := a.cfg.Store.Read(c.UserContext(), p.OrgID, func(tx store.Tx) error {
		var err error
		d, err = a.deviceInScope(c.UserContext(), tx, p, c.Params("id"))
		return err
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(a.device(d))
}

type patchDeviceRequest struct {
	Name   *string            `json:"name"`
	Labels *map[string]string `json:"labels"`
}

func (a *API) patchDevice(c *fiber.Ctx) error {
	var req patchDeviceRequest
	if !body(c, &req) {
		return nil
	}
	p := principalOf(c)
	ctx := c.UserContext()
	var d store.Device
	err := a.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		var err error
		if d, err = a.deviceInScope(ctx, tx, p, c.Params("id")); err != nil {
			return err
		}
		if req.Name != nil {
			d.Name = *req.Name
		}
		if req.Labels != nil {
			d.Labels = *req.Labels
		}
		if err := validDeviceFields(d.Name, d.Labels); err != nil {
			return err
		}
		if !p.SeesDevice(d.Labels) {
			return fmt.Errorf("labels would move the device outside your scope: %w", store.ErrInvalid)
		}
		return tx.UpdateDevice(ctx, d)
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(a.device(d))
}

func (a *API) revokeDevice(c *fiber.Ctx) error {
	p := principalOf(c)
	ctx := c.UserContext()
	id := c.Params("id")
	err := a.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		d, err := a.deviceInScope(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return nil
		}
		if err := tx.RevokeDevice(ctx, id, a.now()); err != nil {
			return err
		}
		return a.audit(ctx, tx, p.String(), store.AuditDeviceRevoke, "device:"+id, map[string]string{"name": d.Name})
	})
	if err != nil {
		return a.failErr(c, err)
	}
	// The store says revoked from here on: every new handshake, proof and console start is
	// refused. Now end what is live.
	if _, err := a.cfg.Sessions.StopDevice(ctx, p.OrgID, id, p.String(), "device revoked", nil); err != nil {
		return a.failErr(c, err)
	}
	if err := a.cfg.Devices.DisconnectDevice(ctx, id); err != nil {
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
	p := principalOf(c)
	ctx := c.UserContext()
	id := c.Params("id")
	tok, hash := device.NewEnrollmentToken()
	now := a.now()
	exp := now.Add(a.cfg.EnrollmentTTL)
	err := a.cfg.Store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		d, err := a.deviceInScope(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return fmt.Errorf("device %s is revoked: %w", id, store.ErrConflict)
		}
		if err := tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: hash, DeviceID: id, CreatedAt: now, ExpiresAt: exp}); err != nil {
			return err
		}
		return a.audit(ctx, tx, p.String(), store.AuditDeviceCreate, "device:"+id, map[string]string{"enrollment_token": "issued", "expires_at": exp.UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(enrollmentTokenView{Token: tok, DeviceID: id, ExpiresAt: exp})
}
