package amtsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
)

// MPSConfig sets up a fake MPS.
type MPSConfig struct {
	// CIRAListen is where AMT machines connect (TLS), e.g. "127.0.0.1:4433"; Listen is the
	// REST API and relay WebSocket, e.g. "127.0.0.1:3000".
	CIRAListen, Listen string
	// WebUser and WebPassword log in to the REST API.
	WebUser, WebPassword string
	// TLS serves the REST API over HTTPS with the simulator's own certificate (CACertPEM);
	// otherwise plain HTTP (amt+mps+http://).
	TLS bool
	// Devices are the machines MPS has records of.
	Devices []fakemps.Record
	// BinaryFrames relays device bytes as BINARY frames instead of MPS's TEXT frames.
	BinaryFrames bool
	Logger       *slog.Logger
}

// MPS is a running fake MPS.
type MPS struct {
	cfg     MPSConfig
	devices *fakemps.CIRADevices
	web     *fakemps.Server
	ciraLn  net.Listener
	// CACertPEM is the certificate the CIRA port (and HTTPS) serve: what AMT's trusted root
	// would be, and what kvmagent --mps-ca takes.
	CACertPEM []byte

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartMPS starts a fake MPS; Close stops it.
func StartMPS(cfg MPSConfig) (*MPS, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WebUser == "" || cfg.WebPassword == "" {
		return nil, errors.New("amtsim: the MPS needs a web user and password")
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	devices, err := fakemps.NewCIRADevices(cfg.Devices, cfg.Logger.With("component", "mps-devices"))
	if err != nil {
		return nil, err
	}
	webCfg := fakemps.Config{Devices: devices, Users: map[string]string{cfg.WebUser: cfg.WebPassword},
		Listen: []string{cfg.Listen}, BinaryFrames: cfg.BinaryFrames, Logger: cfg.Logger.With("component", "mps")}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLS {
		webCfg.TLS = tlsCfg
	}
	web, err := fakemps.New(webCfg)
	if err != nil {
		return nil, err
	}
	if err := web.Start(); err != nil {
		return nil, fmt.Errorf("amtsim: MPS web server: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.CIRAListen)
	if err != nil {
		_ = web.Close()
		return nil, fmt.Errorf("amtsim: MPS CIRA port: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &MPS{cfg: cfg, devices: devices, web: web, ciraLn: ln, CACertPEM: certPEM, cancel: cancel}
	m.wg.Go(func() {
		if err := devices.Serve(ctx, tls.NewListener(ln, tlsCfg)); err != nil && ctx.Err() == nil {
			cfg.Logger.Error("amtsim: CIRA server ended", "err", err)
		}
	})
	return m, nil
}

// CIRAAddr is where machines connect.
func (m *MPS) CIRAAddr() string { return m.ciraLn.Addr().String() }

// URL is the REST API's base URL.
func (m *MPS) URL() *url.URL { return m.web.URL() }

// Web is the REST and relay server, for faults (Restart, token faults) and checks.
func (m *MPS) Web() *fakemps.Server { return m.web }

// Disconnect cuts a machine's CIRA link from the MPS side.
func (m *MPS) Disconnect(guid string) error { return m.devices.Disconnect(guid) }

// Connected reports whether a machine's CIRA link is up.
func (m *MPS) Connected(guid string) bool { return m.devices.Connected(guid) }

// Close stops the MPS.
func (m *MPS) Close() error {
	m.cancel()
	err := errors.Join(m.web.Close(), m.devices.Close(), m.ciraLn.Close())
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// ClientTLS is the TLS configuration a machine (or kvmagent) uses to trust this MPS.
func (m *MPS) ClientTLS() (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(m.CACertPEM) {
		return nil, errors.New("amtsim: bad CA certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}, nil
}

// selfSigned makes the simulator's certificate, valid for localhost and loopback.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "amtsim MPS"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
