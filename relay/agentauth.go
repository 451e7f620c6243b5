package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// Agents authenticate with their device certificate, issued at enrollment (enroll.go), in one
// of two ways (control/ca's package documentation says which deployment needs which):
//
//   - mTLS, when the relay terminates TLS itself (--tls-cert/--tls-key): the listener requests,
//     but does not require, a client certificate; one that is presented must verify (chain,
//     shape, revocation) or the handshake fails, and the agent WebSocket takes the device
//     from it.
//   - Proof of key, wherever TLS ends (a reverse proxy in front): the agent fetches a
//     single-use challenge (GET /api/v1/agent/challenge), signs it with its device key and
//     sends its certificate and the signature in the Kvmrelay-Proof header of the
//     /ws/agent upgrade; renewals (POST /api/v1/agent/renew) carry such a proof over the CSR.
//
// Agents holding a JWT agent token (`kvmrelay token agent`, the demo) are still accepted when
// they present neither.

// Proof-of-key challenges.
const (
	// challengeTTL is how long a challenge can wait for its proof.
	challengeTTL = time.Minute
	// ChallengePerMinute caps challenges handed to one client address per minute.
	ChallengePerMinute = 120
	// nonceKeyFile holds the key that authenticates challenges, in the data directory.
	nonceKeyFile = "agent-nonce.key"
)

const (
	nonceRandLen = 16
	nonceMACLen  = sha256.Size
	nonceLen     = nonceRandLen + 8 + nonceMACLen
	nonceDomain  = "kvmrelay-agent-nonce-v1"
)

// errNonce is every refusal of a challenge nonce.
var errNonce = errors.New("relay: challenge unknown, expired or already used")

// proofNonces issues challenge nonces that any relay node sharing the data directory can check
// without shared state: random bytes, the expiry and an HMAC over both and the audience. Single
// use is the store's: a verified proof spends its nonce there (devices.verifyProof), so a proof
// captured in flight cannot be replayed on this node or any other, nor after a restart.
type proofNonces struct {
	key []byte
	now func() time.Time
}

func newProofNonces(key []byte, now func() time.Time) *proofNonces {
	return &proofNonces{key: key, now: now}
}

func (n *proofNonces) mac(body []byte, aud string) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte(nonceDomain))
	m.Write(body)
	m.Write([]byte(aud))
	return m.Sum(nil)
}

// issue returns a fresh challenge for audience aud and its expiry.
func (n *proofNonces) issue(aud string) (keyproof.Challenge, time.Time) {
	exp := n.now().Add(challengeTTL).Truncate(time.Second)
	nonce := make([]byte, nonceRandLen, nonceLen)
	_, _ = rand.Read(nonce) // never fails since Go 1.24
	nonce = binary.BigEndian.AppendUint64(nonce, uint64(exp.Unix()))
	nonce = append(nonce, n.mac(nonce, aud)...)
	return keyproof.Challenge{Nonce: nonce, Audience: aud}, exp
}

// check accepts a nonce this deployment issued for aud that has not expired (it may have been
// used: the store decides that, after the proof verified). It returns the nonce's expiry.
func (n *proofNonces) check(nonce []byte, aud string) (keyproof.Challenge, time.Time, error) {
	if len(nonce) != nonceLen {
		return keyproof.Challenge{}, time.Time{}, errNonce
	}
	body := nonce[:nonceRandLen+8]
	if !hmac.Equal(nonce[nonceRandLen+8:], n.mac(body, aud)) {
		return keyproof.Challenge{}, time.Time{}, errNonce
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(nonce[nonceRandLen:])), 0)
	if !n.now().Before(exp) {
		return keyproof.Challenge{}, time.Time{}, fmt.Errorf("%w: expired %v ago", errNonce, n.now().Sub(exp).Round(time.Second))
	}
	return keyproof.Challenge{Nonce: bytes.Clone(nonce), Audience: aud}, exp, nil
}

// loadOrCreateKeyFile returns the 32-byte secret in dir/name, creating it on first start. The
// file appears complete or not at all (temporary file, then link), so relay nodes starting at
// once on a shared data directory agree on one key.
func loadOrCreateKeyFile(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	for range 2 {
		key, err := os.ReadFile(path)
		if err == nil {
			if len(key) != 32 {
				return nil, fmt.Errorf("relay: %s is not a 32-byte key; delete it to make a new one", path)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("relay: read %s: %w", path, err)
		}
		if err := writeKeyFile(dir, path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("relay: %s vanished while starting", path)
}

func writeKeyFile(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("relay: create data dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".key-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("relay: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("relay: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("relay: publish %s: %w", path, err)
	}
	return nil
}

// verifyProof checks a proof of key over body against a challenge this deployment issued,
// then spends the challenge in the organization of the device that proved its key. It returns
// the device the certificate names.
func (d *devices) verifyProof(ctx context.Context, p keyproof.Proof, aud string, body []byte) (ca.Device, error) {
	want, exp, err := d.nonces.check(p.Nonce, aud)
	if err != nil {
		return ca.Device{}, err
	}
	dev, err := d.ca.VerifyProof(ctx, p, ca.ProofExpect{Challenge: want, Body: body, MaxAge: 2 * challengeTTL})
	if err != nil {
		return ca.Device{}, err
	}
	org, err := d.store.Lookup(ctx, store.LookupDevice, dev.ID)
	if err != nil {
		return ca.Device{}, fmt.Errorf("relay: device %s: %w", dev.ID, err)
	}
	if err := spendOnce(ctx, d.store, org, store.SpendProofNonce, hex.EncodeToString(p.Nonce), exp.Add(time.Minute)); err != nil {
		if errors.Is(err, errSpent) {
			return ca.Device{}, fmt.Errorf("%w: used before", errNonce)
		}
		return ca.Device{}, err
	}
	return dev, nil
}

// audience is what challenges are issued for and proofs must name: the relay's URL.
func (r *Relay) audience() string { return r.URL() }

// authenticateAgent is signaling's AgentAuth: the device certificate of the TLS connection,
// else a Kvmrelay-Proof header; neither leaves the agent token to decide. The claims name the
// device and its organization.
func (r *Relay) authenticateAgent(c *fiber.Ctx) (auth.Claims, bool, error) {
	ctx := c.UserContext()
	var dev ca.Device
	var err error
	var method string
	if cs := c.Context().TLSConnectionState(); cs != nil && len(cs.PeerCertificates) > 0 {
		method = "mtls"
		dev, err = r.devices.ca.DeviceFromTLS(ctx, cs)
	} else if h := c.Get(keyproof.HeaderName); h != "" {
		method = "proof"
		var p keyproof.Proof
		if p, err = keyproof.DecodeHeader(h); err == nil {
			dev, err = r.devices.verifyProof(ctx, p, r.audience(), keyproof.WebSocketBody)
		}
	} else {
		return auth.Claims{}, false, nil
	}
	if err != nil {
		r.log.Warn("agent authentication refused", "method", method, "remote", c.IP(), "err", err)
		return auth.Claims{}, true, fmt.Errorf("relay: agent %s: %w", method, err)
	}
	org, err := r.store.Lookup(ctx, store.LookupDevice, dev.ID)
	if err != nil {
		r.log.Warn("agent authentication refused: device not in the store", "method", method, "device", dev.ID, "err", err)
		return auth.Claims{}, true, fmt.Errorf("relay: agent %s: device %s: %w", method, dev.ID, err)
	}
	r.log.Debug("agent authenticated", "method", method, "device", dev.ID, "org", org, "serial", dev.Serial.Text(16))
	return auth.Claims{
		Subject:   "device:" + dev.ID,
		Audience:  auth.AudienceAgent,
		Device:    dev.ID,
		Tenant:    org,
		ExpiresAt: dev.NotAfter,
	}, true, nil
}

// challengeResponse is the body of GET /api/v1/agent/challenge.
type challengeResponse struct {
	keyproof.Challenge
	ExpiresAt time.Time `json:"expires_at"`
}

// challenge hands out a single-use nonce for a proof of key.
func (r *Relay) challenge(c *fiber.Ctx) error {
	ch, exp := r.devices.nonces.issue(r.audience())
	return c.JSON(challengeResponse{Challenge: ch, ExpiresAt: exp})
}

// renewRequest is the body of POST /api/v1/agent/renew: a CSR for the device's key and a
// proof of the current certificate's key over exactly the CSR's bytes.
type renewRequest struct {
	CSR   string         `json:"csr"`
	Proof keyproof.Proof `json:"proof"`
}

// renewResponse is the answer to a renewal.
type renewResponse struct {
	Certificate string    `json:"certificate"`
	DeviceID    string    `json:"device_id"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// renew issues a fresh certificate to a device that proves it holds its current one's key.
func (r *Relay) renew(c *fiber.Ctx) error {
	var req renewRequest
	if err := c.BodyParser(&req); err != nil || req.CSR == "" {
		return c.Status(fiber.StatusBadRequest).JSON(apiError{Code: "bad-request", Message: `Send {"csr":"<PEM>","proof":{…}} with a proof over the CSR (kvmagent does this by itself).`})
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(apiError{Code: "csr-invalid", Message: "The certificate request was refused: send one PEM CSR for an EC P-384 key, without extensions."})
	}
	ctx := c.UserContext()
	dev, err := r.devices.verifyProof(ctx, req.Proof, r.audience(), []byte(req.CSR))
	if err != nil {
		r.log.Warn("certificate renewal refused", "remote", c.IP(), "err", err)
		return c.Status(fiber.StatusUnauthorized).JSON(apiError{Code: "proof-invalid", Message: "The proof of key was refused: the challenge expired or was used, or the certificate is expired, revoked or not from this relay. Retry with a new challenge; if the certificate expired or the device was revoked, enroll the agent again with a new token."})
	}
	certPEM, err := r.devices.ca.IssueParsed(ctx, csr, dev.ID, r.devices.ttl)
	if err != nil {
		return fmt.Errorf("relay: renew certificate of %s: %w", dev.ID, err)
	}
	exp, err := notAfter(certPEM)
	if err != nil {
		return err
	}
	r.log.Info("device certificate renewed", "device", dev.ID, "old_serial", dev.Serial.Text(16), "remote", c.IP())
	return c.JSON(renewResponse{Certificate: string(certPEM), DeviceID: dev.ID, ExpiresAt: exp})
}

// listener wraps the HTTP listener in TLS when the relay serves HTTPS itself.
func (d *devices) listener(ln net.Listener) net.Listener {
	if d.tls == nil {
		return ln
	}
	return tls.NewListener(ln, d.tls)
}

// serverTLS is the HTTPS configuration: the operator's certificate (read once, at start),
// requesting but not requiring agents' device certificates (browsers share the listener).
func serverTLS(c *ca.CA, certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("relay: --tls-cert/--tls-key: %w", err)
	}
	return c.ServerTLSConfig(&tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}), nil
}

// devices is the relay's side of device identity: the CA, challenges, heartbeat throttling.
type devices struct {
	store   store.Store // spends challenge nonces, resolves devices to organizations
	ca      *ca.CA
	nonces  *proofNonces
	beats   *beatThrottle
	reports *device.Reports // gateways' machines reports, per connection on this node
	ttl     time.Duration   // device certificate lifetime
	tls     *tls.Config     // nil: plain HTTP (TLS ends before the relay, if anywhere)
}

// openDevices opens the device CA in the data directory (creating its root on first start)
// with the store as revocation list, and the challenge key beside it. Relay nodes that share
// a deployment share these files as they share the token signing key.
func openDevices(ctx context.Context, cfg Config, st store.Store) (*devices, error) {
	c, err := ca.Open(ctx, ca.Config{Store: ca.FileKeyStore{Dir: cfg.DataDir}, Revocation: device.StoreRevocations{Store: st}})
	if err != nil {
		return nil, fmt.Errorf("relay: open device CA in %s: %w", cfg.DataDir, err)
	}
	key, err := loadOrCreateKeyFile(cfg.DataDir, nonceKeyFile)
	if err != nil {
		return nil, err
	}
	d := &devices{
		store:   st,
		ca:      c,
		nonces:  newProofNonces(key, time.Now),
		beats:   newBeatThrottle(time.Now),
		reports: device.NewReports(st),
		ttl:     ca.DefaultCertTTL,
	}
	if cfg.TLSCertFile != "" {
		if d.tls, err = serverTLS(c, cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// scheme is how the relay serves HTTP: https with --tls-cert.
func (c *Config) scheme() string {
	if c.TLSCertFile != "" {
		return "https"
	}
	return "http"
}
