package relay

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// mountDevices registers the agent-facing device endpoints under /api/v1.
func (r *Relay) mountDevices(api fiber.Router) {
	limit := func(max int, what string) fiber.Handler {
		return limiter.New(limiter.Config{
			Max:        max,
			Expiration: time.Minute,
			Storage:    newRateStore(),
			LimitReached: func(c *fiber.Ctx) error {
				return c.Status(fiber.StatusTooManyRequests).JSON(apiError{Code: "rate-limited", Message: "Too many " + what + " from this address; wait a minute and try again."})
			},
		})
	}
	api.Post("/enroll", limit(r.cfg.EnrollPerMinute, "enrollment attempts"), r.enroll)
	api.Get("/agent/challenge", limit(ChallengePerMinute, "challenges"), r.challenge)
	api.Post("/agent/renew", limit(ChallengePerMinute, "renewals"), r.renew)
}

// enrollRequest is the body of POST /api/v1/enroll.
type enrollRequest struct {
	Token string `json:"token"`
	CSR   string `json:"csr"`
}

// enrollResponse is the answer to an enrollment: the device certificate, the device CA's root
// (which signs device certificates only: it does not vouch for the relay's HTTPS certificate)
// and the device id the certificate names.
type enrollResponse struct {
	Certificate string    `json:"certificate"`
	CA          string    `json:"ca"`
	DeviceID    string    `json:"device_id"`
	ExpiresAt   time.Time `json:"expires_at"`
}

var (
	errEnrollToken = apiError{Code: "enrollment-token-invalid", Message: "The enrollment token is invalid, expired or already used; ask an admin for a new one (kvmctl devices enroll-token DEVICE)."}
	errEnrollCSR   = apiError{Code: "csr-invalid", Message: "The certificate request was refused: send one PEM CSR for an EC P-384 key, without extensions. The enrollment token was not used; fix the request and try again."}
)

// enroll trades a one-time enrollment token and a CSR for a device certificate. Everything
// that can be checked without the token is checked before it is consumed, and consuming it,
// issuing and auditing are one transaction: a refused request never burns the token.
func (r *Relay) enroll(c *fiber.Ctx) error {
	var req enrollRequest
	if err := c.BodyParser(&req); err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(apiError{Code: "bad-request", Message: `Send {"token":"kvme_…","csr":"<PEM>"} (kvmagent enroll does this).`})
	}
	hash, err := device.EnrollmentTokenHash(req.Token)
	if err != nil {
		r.log.Warn("enrollment refused", "reason", err, "remote", c.IP())
		return c.Status(fiber.StatusUnauthorized).JSON(errEnrollToken)
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		r.log.Warn("enrollment refused", "reason", err, "remote", c.IP())
		return c.Status(fiber.StatusBadRequest).JSON(errEnrollCSR)
	}
	ctx := c.UserContext()
	org, err := r.store.Lookup(ctx, store.LookupEnrollment, hash)
	if errors.Is(err, store.ErrNotFound) {
		r.log.Warn("enrollment refused", "reason", "unknown token", "remote", c.IP())
		return c.Status(fiber.StatusUnauthorized).JSON(errEnrollToken)
	}
	if err != nil {
		return fmt.Errorf("relay: enroll: look up token: %w", err)
	}
	var resp enrollResponse
	err = r.store.Write(ctx, org, func(tx store.Tx) error {
		now := time.Now()
		tok, err := tx.ConsumeEnrollmentToken(ctx, hash, now)
		if err != nil {
			return err
		}
		certPEM, err := r.devices.ca.IssueParsed(ctx, csr, tok.DeviceID, r.devices.ttl)
		if err != nil {
			return err
		}
		crt, err := parseCertPEM(certPEM)
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{
			Time: now, Actor: "device:" + tok.DeviceID, Action: store.AuditDeviceEnroll, Target: "device:" + tok.DeviceID,
			Details: map[string]string{"serial": crt.SerialNumber.Text(16), "expires_at": crt.NotAfter.UTC().Format(time.RFC3339), "remote": c.IP()},
		})
		resp = enrollResponse{Certificate: string(certPEM), CA: string(r.devices.ca.RootPEM()), DeviceID: tok.DeviceID, ExpiresAt: crt.NotAfter}
		return err
	})
	if errors.Is(err, store.ErrTokenInvalid) {
		r.log.Warn("enrollment refused", "reason", "token used, expired or for a revoked device", "org", org, "remote", c.IP())
		return c.Status(fiber.StatusUnauthorized).JSON(errEnrollToken)
	}
	if err != nil {
		return fmt.Errorf("relay: enroll: %w", err)
	}
	r.log.Info("device enrolled", "device", resp.DeviceID, "org", org, "remote", c.IP())
	return c.JSON(resp)
}

// RevokeDevice revokes a device of organization orgID in the store, audited as actor
// ("user:<id>", "apikey:<id>", "system"), then cuts its live connections (DisconnectDevice).
// From the commit on, no handshake, proof, renewal or enrollment of the device succeeds on any
// relay node: every verification asks the store. Revoking a revoked device only disconnects
// it again. store.ErrNotFound when the organization has no such device.
func (r *Relay) RevokeDevice(ctx context.Context, orgID, deviceID, actor string) error {
	now := time.Now()
	err := r.store.Write(ctx, orgID, func(tx store.Tx) error {
		d, err := tx.Device(ctx, deviceID)
		if err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return nil
		}
		if err := tx.RevokeDevice(ctx, deviceID, now); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: actor, Action: store.AuditDeviceRevoke, Target: "device:" + deviceID,
			Details: map[string]string{"name": d.Name}})
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: revoke device %s: %w", deviceID, err)
	}
	return r.DisconnectDevice(ctx, deviceID)
}

// DisconnectDevice closes the device's agent WebSocket and its consoles' signaling at once, on
// this node and, over the bus, on every node sharing it. Call it after revoking the device in
// the store, so that the agent's reconnect is refused. Media already flowing peer to peer is
// the consoles' to stop: they are told their session ended and close their peer connections.
func (r *Relay) DisconnectDevice(ctx context.Context, deviceID string) error {
	n, err := r.sig.DisconnectDevice(ctx, deviceID, "device revoked")
	r.log.Info("device connections cut", "device", deviceID, "here", n)
	if err != nil {
		return fmt.Errorf("relay: disconnect device %s: %w", deviceID, err)
	}
	return nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("relay: issued certificate is not PEM")
	}
	crt, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("relay: parse issued certificate: %w", err)
	}
	return crt, nil
}

// notAfter is the expiry of a PEM certificate.
func notAfter(certPEM []byte) (time.Time, error) {
	crt, err := parseCertPEM(certPEM)
	if err != nil {
		return time.Time{}, err
	}
	return crt.NotAfter, nil
}
