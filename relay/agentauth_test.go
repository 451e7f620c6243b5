package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// runAgent runs a real agent (test pattern) as id until the test ends.
func (d *devRelay) runAgent(t *testing.T, id *enroll.Identity) {
	t.Helper()
	dev, err := testpattern.New(testpattern.Config{Width: 640, Height: 480, FPS: 5})
	require.NoError(t, err)
	client := d.client(t, id)
	a, err := agent.New(agent.Config{
		Server: d.base(),
		Auth: func(ctx context.Context) (http.Header, error) {
			return enroll.ProofHeader(ctx, client, id, time.Now())
		},
		TLS:          d.agentTLS(id),
		Source:       dev.DeviceSource(),
		SourceKind:   testpattern.Scheme,
		NewEncoder:   encoders.New,
		Encoder:      media.EncoderConfig{FPS: 5},
		Logger:       quietConfig(t).Logger,
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); dev.Close() })
}

// TestEnrollThenRunAsDevice: token → enrollment → a real agent runs with that identity; the
// relay accepts its WebSocket as the enrolled device of its organization (the console of that
// device sees it online, its heartbeat lands on the device's row), over plain HTTP (proof of
// key) and over HTTPS (mTLS).
func TestEnrollThenRunAsDevice(t *testing.T) {
	for _, mode := range []string{"http", "https"} {
		t.Run(mode, func(t *testing.T) {
			d := startDevRelay(t, tlsIf(t, mode == "https"))
			if mode == "https" {
				d.roots = testenvRoots(t, d)
			}
			dev, id := d.enrolled(t, "rack-1")
			console := d.dialConsole(t, dev, "s_1")
			d.runAgent(t, id)
			waitAgentStatus(t, console, true)

			require.Eventually(t, func() bool { return d.storedDevice(t, dev).LastSeen != nil }, 5*time.Second, 20*time.Millisecond)
			row := d.storedDevice(t, dev)
			assert.True(t, device.Online(row, time.Now()))
			assert.Equal(t, agent.Version, row.AgentVersion)
			caps, err := device.ParseCapabilities(row.Capabilities)
			require.NoError(t, err)
			assert.Equal(t, []string{"testpattern"}, caps.Sources)
			assert.Equal(t, []string{"640x480"}, caps.Sizes)
			assert.NotEmpty(t, caps.Codecs)

			// The console's join reaches this agent: it answers with an offer for the session.
			require.NoError(t, console.Send(wire.TypeJoin, "s_1", wire.Join{Codecs: []string{"video/VP8"}}))
			for {
				e, err := recvWithin(t, console)
				require.NoError(t, err)
				if e.Type == wire.TypeOffer {
					break
				}
			}
		})
	}
}

// tlsIf returns a config adjustment that serves HTTPS with a self-signed certificate.
func tlsIf(t *testing.T, on bool) func(*Config) {
	if !on {
		return nil
	}
	cert := testenv.SelfSignedCert(t, "")
	return func(c *Config) { c.TLSCertFile, c.TLSKeyFile = cert.CertFile, cert.KeyFile }
}

// testenvRoots trusts the relay's own HTTPS certificate.
func testenvRoots(t *testing.T, d *devRelay) *x509.CertPool {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(d.cfg.TLSCertFile, d.cfg.TLSKeyFile)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return pool
}

// proofFor signs a proof over body for id against a fresh challenge of d.
func (d *devRelay) proofFor(t *testing.T, id *enroll.Identity, body []byte) keyproof.Proof {
	t.Helper()
	ch, err := d.client(t, id).Challenge(context.Background())
	require.NoError(t, err)
	p, err := keyproof.Sign(id.Key(), [][]byte{id.Certificate().Raw}, ch, time.Now(), body)
	require.NoError(t, err)
	return p
}

func proofHeader(t *testing.T, p keyproof.Proof) http.Header {
	t.Helper()
	v, err := keyproof.EncodeHeader(p)
	require.NoError(t, err)
	h := http.Header{}
	h.Set(keyproof.HeaderName, v)
	return h
}

// TestAgentProofRefused: the agent WebSocket refuses (401, before the upgrade) every proof
// that is not a fresh, single-use signature by an unrevoked device of this relay's CA over a
// challenge of this relay (SECURITY.md item 8: revoked certificate).
func TestAgentProofRefused(t *testing.T) {
	d := startDevRelay(t, nil)
	dev, id := d.enrolled(t, "rack-1")
	_, other := d.enrolled(t, "rack-2")
	gone, goneID := d.enrolled(t, "gone")
	require.NoError(t, d.RevokeDevice(context.Background(), d.org, gone, "user:admin"))

	// Another relay (another CA, another challenge key) with a device of the same id.
	elsewhere := startDevRelay(t, nil)
	foreignCA, err := ca.Open(context.Background(), ca.Config{Store: ca.FileKeyStore{Dir: elsewhere.cfg.DataDir}, Revocation: ca.NewMemRevocations()})
	require.NoError(t, err)
	// An expired certificate of this relay's CA for dev, on id's key.
	expiredAt := time.Now().Add(-3 * time.Hour)
	pastCA, err := ca.Open(context.Background(), ca.Config{Store: ca.FileKeyStore{Dir: d.cfg.DataDir}, Revocation: ca.NewMemRevocations(), Now: func() time.Time { return expiredAt }})
	require.NoError(t, err)
	csr, err := enroll.NewCSR(id.Key())
	require.NoError(t, err)
	issue := func(c *ca.CA) []byte {
		pemCert, err := c.Issue(context.Background(), csr, dev, time.Hour)
		require.NoError(t, err)
		blk, _ := pem.Decode(pemCert)
		return blk.Bytes
	}
	expiredDER, foreignDER := issue(pastCA), issue(foreignCA)

	valid := func() keyproof.Proof { return d.proofFor(t, id, keyproof.WebSocketBody) }
	resign := func(p keyproof.Proof) keyproof.Proof {
		out, err := keyproof.Sign(id.Key(), p.Chain, keyproof.Challenge{Nonce: p.Nonce, Audience: p.Audience}, time.Unix(p.Time, 0), keyproof.WebSocketBody)
		require.NoError(t, err)
		return out
	}
	used := valid()
	c, err := d.dialAgentWith(t, proofHeader(t, used), nil)
	require.NoError(t, err, "a fresh proof opens the connection")
	c.Close()

	for _, tc := range []struct {
		name   string
		header func() http.Header
	}{
		{"nonce used before", func() http.Header { return proofHeader(t, used) }},
		{"signed by another key", func() http.Header {
			p := valid()
			p.Chain = [][]byte{other.Certificate().Raw} // rack-2's certificate, rack-1's signature
			return proofHeader(t, p)
		}},
		{"tampered signature", func() http.Header {
			p := valid()
			p.Signature[len(p.Signature)-1] ^= 1
			return proofHeader(t, p)
		}},
		{"empty signature", func() http.Header { p := valid(); p.Signature = nil; return proofHeader(t, p) }},
		{"proof made for a renewal", func() http.Header { return proofHeader(t, d.proofFor(t, id, csr)) }},
		{"nonce not from this relay", func() http.Header {
			p := elsewhere.proofFor(t, id, keyproof.WebSocketBody) // signed properly, for the other relay
			return proofHeader(t, p)
		}},
		{"made-up nonce", func() http.Header {
			p := valid()
			p.Nonce = keyproof.NewChallenge(p.Audience).Nonce
			return proofHeader(t, resign(p))
		}},
		{"other audience", func() http.Header {
			p := valid()
			p.Audience = "https://evil.example"
			return proofHeader(t, resign(p))
		}},
		{"stale timestamp", func() http.Header {
			p := valid()
			p.Time -= int64((10 * time.Minute).Seconds())
			return proofHeader(t, resign(p))
		}},
		{"certificate of another CA, same device id", func() http.Header {
			p := valid()
			p.Chain = [][]byte{foreignDER}
			return proofHeader(t, resign(p))
		}},
		{"expired certificate", func() http.Header {
			p := valid()
			p.Chain = [][]byte{expiredDER}
			return proofHeader(t, resign(p))
		}},
		{"revoked device", func() http.Header { return proofHeader(t, d.proofFor(t, goneID, keyproof.WebSocketBody)) }},
		{"garbage header", func() http.Header { h := http.Header{}; h.Set(keyproof.HeaderName, "!!"); return h }},
		{"nothing", func() http.Header { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.dialAgentWith(t, tc.header(), nil)
			require.ErrorIs(t, err, sigclient.ErrRefused)
			assert.Contains(t, err.Error(), "HTTP 401")
		})
	}

	// The demo's agent token still works beside enrolled identities.
	tok, err := AgentToken(d.Issuer(), "demo-device", time.Minute)
	require.NoError(t, err)
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	c, err = d.dialAgentWith(t, h, nil)
	require.NoError(t, err)
	c.Close()
}

// TestRenew: an agent renews its certificate with a proof over the CSR; replaying the proof,
// or renewing a revoked device, is refused.
func TestRenew(t *testing.T) {
	d := startDevRelay(t, nil)
	dev, id := d.enrolled(t, "rack-1")
	client := d.client(t, id)
	before := id.Certificate()
	time.Sleep(1100 * time.Millisecond) // certificate times have one-second resolution
	r, err := enroll.NewRenewer(enroll.RenewerConfig{Identity: id, Client: client})
	require.NoError(t, err)
	require.NoError(t, r.RenewOnce(context.Background()))
	after := id.Certificate()
	assert.NotEqual(t, before.SerialNumber, after.SerialNumber)
	assert.True(t, after.NotAfter.After(before.NotAfter))
	assert.Equal(t, dev, after.Subject.CommonName)

	// A proof is good for one renewal.
	csr, err := enroll.NewCSR(id.Key())
	require.NoError(t, err)
	p := d.proofFor(t, id, csr)
	_, err = client.Renew(context.Background(), csr, p)
	require.NoError(t, err)
	_, err = client.Renew(context.Background(), csr, p)
	assert.ErrorIs(t, err, enroll.ErrProofRefused)

	// A proof over one CSR does not carry another.
	csr2, err := enroll.NewCSR(id.Key())
	require.NoError(t, err)
	_, err = client.Renew(context.Background(), csr2, d.proofFor(t, id, csr))
	assert.ErrorIs(t, err, enroll.ErrProofRefused)

	require.NoError(t, d.RevokeDevice(context.Background(), d.org, dev, "user:admin"))
	err = r.RenewOnce(context.Background())
	assert.ErrorIs(t, err, enroll.ErrProofRefused)
}

// TestMTLSIdentifiesTheDevice: over HTTPS, an agent presenting its device certificate in the
// handshake is the device, with no proof and no token; a revoked device's certificate fails
// the handshake; a client without a certificate (a browser) is served as before.
func TestMTLSIdentifiesTheDevice(t *testing.T) {
	d := startDevRelay(t, tlsIf(t, true))
	d.roots = testenvRoots(t, d)
	dev, id := d.enrolled(t, "rack-1")
	gone, goneID := d.enrolled(t, "gone")

	console := d.dialConsole(t, dev, "s_1")
	c, err := d.dialAgentWith(t, nil, d.agentTLS(id))
	require.NoError(t, err, "the certificate alone authenticates")
	waitAgentStatus(t, console, true)
	require.NoError(t, c.Send(wire.TypeHeartbeat, "", wire.Heartbeat{Version: "mtls-agent"}))
	require.Eventually(t, func() bool { return d.storedDevice(t, dev).AgentVersion == "mtls-agent" }, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, d.RevokeDevice(context.Background(), d.org, gone, "user:admin"))
	_, err = d.dialAgentWith(t, nil, d.agentTLS(goneID))
	require.Error(t, err, "a revoked device's certificate fails the handshake")

	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.roots}}}).Get(d.base() + "/healthz")
	require.NoError(t, err, "no client certificate: served as before")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = d.dialAgentWith(t, nil, &tls.Config{RootCAs: d.roots})
	require.ErrorIs(t, err, sigclient.ErrRefused, "no certificate, no proof, no token")
	assert.Contains(t, fmt.Sprint(err), "HTTP 401")
}
