package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// devRelay is a running relay with one organization, for the device tests.
type devRelay struct {
	*Relay
	org   string
	roots *x509.CertPool // trusts the relay's HTTPS certificate; nil over plain HTTP
}

// base is where the test reaches this node: its own address, even when its public URL names
// a load balancer in front of several nodes.
func (d *devRelay) base() string { return d.cfg.scheme() + "://" + d.Addr().String() }

// startDevRelay starts a relay (embedded SQLite unless cfg says otherwise) serving until the
// test ends, with one organization.
func startDevRelay(t *testing.T, adjust func(*Config)) *devRelay {
	t.Helper()
	cfg := quietConfig(t)
	cfg.EnrollPerMinute = 1000
	if adjust != nil {
		adjust(&cfg)
	}
	r := serveDevRelay(t, cfg)
	org, err := r.Store().CreateOrganization(context.Background(), store.Organization{Name: "acme", Slug: "acme-" + strings.ToLower(store.NewID()[:8])})
	require.NoError(t, err)
	return &devRelay{Relay: r, org: org.ID}
}

// serveDevRelay starts a relay with cfg, serving until the test ends.
func serveDevRelay(t *testing.T, cfg Config) *Relay {
	t.Helper()
	r, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

// newDevice creates a device and returns its id.
func (d *devRelay) newDevice(t *testing.T, name string) string {
	t.Helper()
	var id string
	require.NoError(t, d.Store().Write(context.Background(), d.org, func(tx store.Tx) error {
		dev, err := tx.CreateDevice(context.Background(), store.Device{Name: name})
		id = dev.ID
		return err
	}))
	return id
}

// token makes a one-time enrollment token for deviceID, valid for ttl, as the admin API does.
func (d *devRelay) token(t *testing.T, deviceID string, ttl time.Duration) string {
	t.Helper()
	tok, hash := device.NewEnrollmentToken()
	now := time.Now()
	require.NoError(t, d.Store().Write(context.Background(), d.org, func(tx store.Tx) error {
		return tx.CreateEnrollmentToken(context.Background(), store.EnrollmentToken{Hash: hash, DeviceID: deviceID, CreatedAt: now, ExpiresAt: now.Add(ttl)})
	}))
	return tok
}

// client is the agent's HTTP client for this relay, presenting id's certificate when the
// relay asks (nil: not enrolled).
func (d *devRelay) client(t *testing.T, id *enroll.Identity) *enroll.HTTPClient {
	t.Helper()
	c, err := enroll.NewHTTPClient(d.base(), d.agentTLS(id))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func (d *devRelay) agentTLS(id *enroll.Identity) *tls.Config {
	return enroll.TLSConfig(id, d.roots)
}

// enrolled creates a device and enrolls an agent identity for it in a fresh state directory.
func (d *devRelay) enrolled(t *testing.T, name string) (string, *enroll.Identity) {
	t.Helper()
	dev := d.newDevice(t, name)
	id, err := enroll.Enroll(context.Background(), filepath.Join(t.TempDir(), "state"), d.token(t, dev, time.Hour), d.client(t, nil))
	require.NoError(t, err)
	require.Equal(t, dev, id.DeviceID())
	return dev, id
}

// wsURL is the relay's base URL as a WebSocket URL.
func (d *devRelay) wsURL(path string) string {
	u := d.base()
	if strings.HasPrefix(u, "https://") {
		return "wss://" + strings.TrimPrefix(u, "https://") + path
	}
	return "ws://" + strings.TrimPrefix(u, "http://") + path
}

// dialAgent opens /ws/agent as id with a fresh proof of key (and id's certificate in the TLS
// handshake over https).
func (d *devRelay) dialAgent(t *testing.T, id *enroll.Identity) (*sigclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := enroll.ProofHeader(ctx, d.client(t, id), id, time.Now())
	require.NoError(t, err)
	return d.dialAgentWith(t, h, d.agentTLS(id))
}

func (d *devRelay) dialAgentWith(t *testing.T, h http.Header, tlsCfg *tls.Config) (*sigclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: d.wsURL("/ws/agent"), Header: h, TLS: tlsCfg})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// dialConsole opens a console for deviceID with a console token minted by the relay (as
// `kvmrelay token console` does: no stored session).
func (d *devRelay) dialConsole(t *testing.T, deviceID, sid string) *sigclient.Client {
	t.Helper()
	tok, _, err := d.Issuer().Mint(auth.Claims{Subject: "alice", Audience: auth.AudienceConsole, Device: deviceID, Session: sid}, time.Minute)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: d.wsURL("/ws/console"), Token: tok, TLS: &tls.Config{RootCAs: d.roots}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// recvWithin reads c's next message, failing the test after 5 s.
func recvWithin(t *testing.T, c *sigclient.Client) (wire.Envelope, error) {
	t.Helper()
	type res struct {
		e   wire.Envelope
		err error
	}
	ch := make(chan res, 1)
	go func() { e, err := c.Recv(); ch <- res{e, err} }()
	select {
	case r := <-ch:
		return r.e, r.err
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a signaling message")
		return wire.Envelope{}, nil
	}
}

// waitAgentStatus reads a console's messages until agent-status says online (or offline).
func waitAgentStatus(t *testing.T, c *sigclient.Client, online bool) {
	t.Helper()
	for {
		e, err := recvWithin(t, c)
		require.NoError(t, err)
		if e.Type != wire.TypeAgentStatus {
			continue
		}
		var st wire.AgentStatus
		require.NoError(t, wire.DecodeData(e, &st))
		if st.Online == online {
			return
		}
	}
}

// storedDevice reads a device back.
func (d *devRelay) storedDevice(t *testing.T, id string) store.Device {
	t.Helper()
	var dev store.Device
	require.NoError(t, d.Store().Read(context.Background(), d.org, func(tx store.Tx) error {
		var err error
		dev, err = tx.Device(context.Background(), id)
		return err
	}))
	return dev
}

// audit returns the organization's audit actions in order.
func (d *devRelay) audit(t *testing.T) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	require.NoError(t, d.Store().Read(context.Background(), d.org, func(tx store.Tx) error {
		es, err := tx.Audit(context.Background(), 0, 1000)
		for _, e := range es {
			out = append(out, e.Record)
		}
		return err
	}))
	_, err := d.Store().VerifyAudit(context.Background(), d.org)
	require.NoError(t, err)
	return out
}

// postEnroll sends a raw enrollment request.
func (d *devRelay) postEnroll(t *testing.T, body any) (int, map[string]string) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(d.base()+"/api/v1/enroll", "application/json", strings.NewReader(string(b)))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func csrPEM(t *testing.T, tmpl *x509.CertificateRequest, key any) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestEnrollOnceThenRefused: a token enrolls its device once; the answer holds a certificate
// for that device and the CA; the enrollment is audited; the same token again is refused with
// advice to ask for a new one (SECURITY.md item 8: replay).
func TestEnrollOnceThenRefused(t *testing.T) {
	d := startDevRelay(t, nil)
	dev := d.newDevice(t, "rack-1")
	tok := d.token(t, dev, time.Hour)
	key, err := enroll.NewKey()
	require.NoError(t, err)
	csr, err := enroll.NewCSR(key)
	require.NoError(t, err)

	status, out := d.postEnroll(t, map[string]string{"token": tok, "csr": string(csr)})
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, dev, out["device_id"])
	crt, err := parseCertPEM([]byte(out["certificate"]))
	require.NoError(t, err)
	assert.Equal(t, dev, crt.Subject.CommonName)
	assert.True(t, crt.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey))
	root, err := parseCertPEM([]byte(out["ca"]))
	require.NoError(t, err)
	require.NoError(t, crt.CheckSignatureFrom(root))
	exp, err := time.Parse(time.RFC3339, out["expires_at"])
	require.NoError(t, err)
	assert.WithinDuration(t, crt.NotAfter, exp, time.Second)

	recs := d.audit(t)
	require.Len(t, recs, 1)
	assert.Equal(t, store.AuditDeviceEnroll, recs[0].Action)
	assert.Equal(t, "device:"+dev, recs[0].Actor)
	assert.Equal(t, "device:"+dev, recs[0].Target)
	assert.Equal(t, crt.SerialNumber.Text(16), recs[0].Details["serial"])

	status, out = d.postEnroll(t, map[string]string{"token": tok, "csr": string(csr)})
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "enrollment-token-invalid", out["code"])
	assert.Contains(t, out["message"], "ask an admin for a new one")

	// Through the agent's client the refusal is ErrTokenRejected, which kvmagent explains.
	_, err = enroll.Enroll(context.Background(), t.TempDir(), tok, d.client(t, nil))
	assert.ErrorIs(t, err, enroll.ErrTokenRejected)
	assert.Len(t, d.audit(t), 1, "a refused enrollment appends nothing")
}

// TestEnrollRefusals: malformed, unknown, expired tokens and tokens of revoked devices are
// refused alike (401); a bad CSR is refused (400) without using the token, which then still
// works (SECURITY.md item 8).
func TestEnrollRefusals(t *testing.T) {
	d := startDevRelay(t, nil)
	dev := d.newDevice(t, "rack-1")
	good := d.token(t, dev, time.Hour)
	expired := d.token(t, dev, -time.Minute)
	gone := d.newDevice(t, "gone")
	goneTok := d.token(t, gone, time.Hour)
	require.NoError(t, d.RevokeDevice(context.Background(), d.org, gone, "user:admin"))
	unknown, _ := device.NewEnrollmentToken()

	key, err := enroll.NewKey()
	require.NoError(t, err)
	csr, err := enroll.NewCSR(key)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)

	for _, tc := range []struct {
		name       string
		token, csr string
		status     int
		code       string
	}{
		{"empty token", "", string(csr), 401, "enrollment-token-invalid"},
		{"truncated token", good[:len(good)-2], string(csr), 401, "enrollment-token-invalid"},
		{"padded token", good + "=", string(csr), 401, "enrollment-token-invalid"},
		{"unknown token", unknown, string(csr), 401, "enrollment-token-invalid"},
		{"expired token", expired, string(csr), 401, "enrollment-token-invalid"},
		{"token of a revoked device", goneTok, string(csr), 401, "enrollment-token-invalid"},
		{"no CSR", good, "", 400, "csr-invalid"},
		{"garbage CSR", good, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", 400, "csr-invalid"},
		{"RSA key", good, csrPEM(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, rsaKey), 400, "csr-invalid"},
		{"P-256 key", good, csrPEM(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, p256), 400, "csr-invalid"},
		{"CSR asking for a SAN", good, csrPEM(t, &x509.CertificateRequest{DNSNames: []string{"relay.example.com"}}, key), 400, "csr-invalid"},
		{"two CSRs", good, string(csr) + string(csr), 400, "csr-invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := d.postEnroll(t, map[string]string{"token": tc.token, "csr": tc.csr})
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, out["code"])
			assert.NotContains(t, out["message"], "ca:", "no internal error text")
		})
	}
	status, out := d.postEnroll(t, "not an object")
	assert.Equal(t, http.StatusBadRequest, status, "%v", out)

	// None of the bad CSRs used the good token.
	status, out = d.postEnroll(t, map[string]string{"token": good, "csr": string(csr)})
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, dev, out["device_id"])
}

// TestEnrollRateLimited: enrollment attempts are capped per client address.
func TestEnrollRateLimited(t *testing.T) {
	d := startDevRelay(t, func(c *Config) { c.EnrollPerMinute = 3 })
	var last int
	for range 4 {
		last, _ = d.postEnroll(t, map[string]string{"token": "kvme_nope", "csr": ""})
	}
	assert.Equal(t, http.StatusTooManyRequests, last)
}
