package enroll

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// The relay's device endpoints, under its base URL.
const (
	EnrollPath    = "/api/v1/enroll"
	ChallengePath = "/api/v1/agent/challenge"
	RenewPath     = "/api/v1/agent/renew"
)

// maxResponse bounds what the client reads of a relay answer.
const maxResponse = 64 << 10

// HTTPClient carries enrollment, challenges and renewals to the relay over HTTP(S). It
// implements EnrollClient and Client.
type HTTPClient struct {
	base string
	http *http.Client
}

var (
	_ EnrollClient = (*HTTPClient)(nil)
	_ Client       = (*HTTPClient)(nil)
)

// NewHTTPClient makes a client for the relay at server (http:// or https://, the URL the agent
// dials). tlsCfg configures HTTPS: the roots that vouch for the relay's certificate (nil: the
// system's) and, once enrolled, the device certificate for mTLS (see TLSConfig).
func NewHTTPClient(server string, tlsCfg *tls.Config) (*HTTPClient, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("enroll: server %q is not a URL like https://relay.example.com", server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &HTTPClient{
		base: strings.TrimRight(u.String(), "/"),
		http: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}, nil
}

// CloseIdleConnections releases pooled connections (tests, and before exiting).
func (c *HTTPClient) CloseIdleConnections() { c.http.CloseIdleConnections() }

// relayError is the relay's JSON error body.
type relayError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// do sends one request and decodes a 200 answer into out; any other status becomes an error
// naming the relay's code and message.
func (c *HTTPClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("enroll: encode %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("enroll: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("enroll: %s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("enroll: read answer to %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e relayError
		_ = json.Unmarshal(raw, &e)
		return &StatusError{Status: resp.StatusCode, Code: printable(e.Code, 64), Message: printable(e.Message, 300)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("enroll: answer to %s: %w", path, err)
	}
	return nil
}

// StatusError is a relay answer other than 200. It matches ErrTokenRejected when the relay
// refused an enrollment token and ErrProofRefused when it refused a proof of key.
type StatusError struct {
	Status  int
	Code    string
	Message string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("relay answered HTTP %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("relay answered HTTP %d %s: %s", e.Status, e.Code, msg)
}

// Is maps the relay's stable codes to this package's sentinels.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrTokenRejected:
		return e.Code == "enrollment-token-invalid"
	case ErrProofRefused:
		return e.Code == "proof-invalid"
	}
	return false
}

// printable keeps relay-supplied text to one line of printable characters (safetext's rule,
// the relay's own), at most max bytes, marked "…" when cut.
func printable(s string, max int) string {
	out := safetext.Clean(s, max)
	if len(out) < len(safetext.Clean(s, len(s))) {
		out += "…"
	}
	return out
}

type enrollRequest struct {
	Token string `json:"token"`
	CSR   string `json:"csr"`
}

type enrollResponse struct {
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
	DeviceID    string `json:"device_id"`
}

// Enroll implements EnrollClient: POST /api/v1/enroll. A refused token gives an error
// matching ErrTokenRejected.
func (c *HTTPClient) Enroll(ctx context.Context, token string, csrPEM []byte) (certPEM, caPEM []byte, err error) {
	var out enrollResponse
	if err := c.do(ctx, http.MethodPost, EnrollPath, enrollRequest{Token: token, CSR: string(csrPEM)}, &out); err != nil {
		return nil, nil, err
	}
	return []byte(out.Certificate), []byte(out.CA), nil
}

// Challenge implements Client: GET /api/v1/agent/challenge.
func (c *HTTPClient) Challenge(ctx context.Context) (keyproof.Challenge, error) {
	var out keyproof.Challenge
	if err := c.do(ctx, http.MethodGet, ChallengePath, nil, &out); err != nil {
		return keyproof.Challenge{}, err
	}
	if len(out.Nonce) < keyproof.NonceSize || out.Audience == "" {
		return keyproof.Challenge{}, errors.New("enroll: the relay's challenge has no nonce or audience")
	}
	return out, nil
}

type renewRequest struct {
	CSR   string         `json:"csr"`
	Proof keyproof.Proof `json:"proof"`
}

type renewResponse struct {
	Certificate string `json:"certificate"`
}

// Renew implements Client: POST /api/v1/agent/renew.
func (c *HTTPClient) Renew(ctx context.Context, csrPEM []byte, proof keyproof.Proof) ([]byte, error) {
	var out renewResponse
	if err := c.do(ctx, http.MethodPost, RenewPath, renewRequest{CSR: string(csrPEM), Proof: proof}, &out); err != nil {
		return nil, err
	}
	return []byte(out.Certificate), nil
}

// ProofHeader returns the headers that authenticate id on the relay's agent WebSocket: a
// fresh challenge from c, signed with the device key (keyproof.HeaderName). Each call
// fetches a new challenge; a proof is good for one connection.
func ProofHeader(ctx context.Context, c Client, id *Identity, now time.Time) (http.Header, error) {
	ch, err := c.Challenge(ctx)
	if err != nil {
		return nil, fmt.Errorf("enroll: challenge for the agent connection: %w", err)
	}
	p, err := keyproof.Sign(id.Key(), [][]byte{id.Certificate().Raw}, ch, now, keyproof.WebSocketBody)
	if err != nil {
		return nil, err
	}
	v, err := keyproof.EncodeHeader(p)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(keyproof.HeaderName, v)
	return h, nil
}

// TLSConfig is the agent's TLS configuration for an https relay: roots vouch for the relay's
// certificate (nil: the system's), and the device certificate is offered when the relay asks
// (mTLS), the newest one at each handshake. An expired certificate is not offered: the
// connection goes on anonymously and the relay's answer (401) says what is wrong, instead of
// a failed handshake. A nil id (not enrolled yet) offers none.
func TLSConfig(id *Identity, roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if id != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert := id.TLSCertificate()
			if time.Now().After(cert.Leaf.NotAfter) {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		}
	}
	return cfg
}
