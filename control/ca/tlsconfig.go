package ca

import (
	"context"
	"crypto/tls"
)

// ServerTLSConfig returns a copy of base set up for agent mTLS: client certificates are
// requested but optional (browsers and the enrollment endpoint share the listener), and any
// certificate that is presented must pass Verify — chain, usage, shape, revocation — or the
// handshake fails. VerifyConnection also runs on resumed sessions, so a revoked device cannot
// come back on a session ticket. Handlers that need an agent call DeviceFromTLS; a connection
// without a certificate is anonymous, never a device.
func (c *CA) ServerTLSConfig(base *tls.Config) *tls.Config {
	cfg := base.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.Time == nil {
		cfg.Time = c.now // one clock for crypto/tls's chain check and ours
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	cfg.ClientCAs = c.Pool()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		// No request context exists during the handshake; the checker must bound itself.
		_, err := c.Verify(context.Background(), cs.PeerCertificates, c.now())
		return err
	}
	return cfg
}

// DeviceFromTLS re-verifies the connection's client certificate (so revocation since the
// handshake counts) and returns the device. Register the connection with Live, so that
// revoking the device closes it.
func (c *CA) DeviceFromTLS(ctx context.Context, cs *tls.ConnectionState) (Device, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Device{}, ErrNoCertificate
	}
	return c.Verify(ctx, cs.PeerCertificates, c.now())
}
