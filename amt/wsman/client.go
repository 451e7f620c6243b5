package wsman

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrAuth means the device refused our digest credentials.
var ErrAuth = errors.New("wsman: AMT refused the credentials (HTTP 401 after digest authentication); check the AMT user name and password")

// errClosed is returned by calls on a closed Client.
var errClosed = errors.New("wsman: client closed")

const (
	// maxResponseBytes bounds one response, headers and body.
	maxResponseBytes = 1 << 20
	// defaultCallTimeout bounds a call whose context has no deadline; it is
	// the OperationTimeout every request carries (PT60S).
	defaultCallTimeout = 60 * time.Second
	// amtPort is what MPS writes in Host (the channel goes to port 16992).
	amtPort = 16992
)

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHost sets the host in the Host header; MPS writes the device GUID
// there. The default is "localhost".
func WithHost(host string) ClientOption {
	return func(c *Client) { c.host = host }
}

// Client sends WS-Man requests to one AMT device as MPS does. Calls are
// serialized; a connection is kept for the next call until the device
// closes it (after a 401 AMT always does). It is safe for concurrent use.
type Client struct {
	dial     func(ctx context.Context) (net.Conn, error)
	user     string
	password string
	host     string

	mu     sync.Mutex // serializes calls; guards the fields below
	conn   *clientConn
	chal   *challenge
	nc     uint32
	msgID  uint64
	closed bool
}

type clientConn struct {
	net.Conn
	budget *budgetReader
	br     *bufio.Reader
}

// NewClient returns a client that reaches the device's port 16992 through
// dial (a CIRA channel, or TCP) and authenticates as user with password.
func NewClient(dial func(ctx context.Context) (net.Conn, error), user, password string, opts ...ClientOption) *Client {
	c := &Client{dial: dial, user: user, password: password, host: "localhost"}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Close closes the kept connection, if any; later calls fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.dropConn()
}

func (c *Client) dropConn() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	if err != nil {
		return fmt.Errorf("wsman: close connection: %w", err)
	}
	return nil
}

// response is one HTTP response, body decoded and bounded.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends one envelope (built by build with the next MessageID) and
// returns the response status and body and the MessageID it used. It answers
// digest challenges: a 401 to an unauthenticated request or a stale nonce is
// retried; a 401 to a fresh digest is ErrAuth.
func (c *Client) call(ctx context.Context, build func(messageID uint64) []byte) (response, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return response{}, "", errClosed
	}
	id := c.msgID
	c.msgID++
	body := build(id)
	for attempt := 0; attempt < 3; attempt++ {
		auth := c.nextAuthorization()
		resp, err := c.roundTrip(ctx, c.httpRequest(auth, body))
		if err != nil {
			return response{}, "", err
		}
		if resp.status != http.StatusUnauthorized {
			return resp, strconv.FormatUint(id, 10), nil
		}
		ch, err := parseChallenge(resp.header.Get("WWW-Authenticate"))
		if err != nil {
			return response{}, "", fmt.Errorf("%w: %w", ErrAuth, err)
		}
		if auth != "" && !ch.stale {
			return response{}, "", ErrAuth
		}
		c.chal, c.nc = &ch, 0
	}
	return response{}, "", ErrAuth
}

func (c *Client) nextAuthorization() string {
	if c.chal == nil {
		return ""
	}
	c.nc++
	var b [8]byte
	_, _ = rand.Read(b[:])
	return authorization(*c.chal, c.user, c.password, http.MethodPost, wsmanPath, fmt.Sprintf("%08x", c.nc), hex.EncodeToString(b[:]))
}

// httpRequest writes the request as MPS does: request line, Authorization
// when we have a challenge, Host, Content-Length.
func (c *Client) httpRequest(auth string, body []byte) []byte {
	var b strings.Builder
	b.WriteString("POST /wsman HTTP/1.1\r\n")
	if auth != "" {
		b.WriteString("Authorization: " + auth + "\r\n")
	}
	b.WriteString("Host: " + c.host + ":" + strconv.Itoa(amtPort) + "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return []byte(b.String())
}

// roundTrip writes req and reads one response, on the kept connection if
// there is one (retrying once on a fresh one if the kept one turns out to be
// closed before answering) or on a new one.
func (c *Client) roundTrip(ctx context.Context, req []byte) (response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCallTimeout)
		defer cancel()
	}
	reused := c.conn != nil
	resp, fresh, err := c.exchange(ctx, req)
	if err != nil && reused && fresh && ctx.Err() == nil {
		resp, _, err = c.exchange(ctx, req)
	}
	return resp, err
}

// exchange does one request/response. fresh reports that the failure came
// before any response byte (so a kept connection was simply gone).
func (c *Client) exchange(ctx context.Context, req []byte) (resp response, fresh bool, err error) {
	if c.conn == nil {
		conn, err := c.dial(ctx)
		if err != nil {
			return response{}, false, fmt.Errorf("wsman: open channel to AMT: %w", err)
		}
		budget := &budgetReader{r: conn}
		c.conn = &clientConn{Conn: conn, budget: budget, br: bufio.NewReader(budget)}
	}
	cc := c.conn
	dl, _ := ctx.Deadline()
	_ = cc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = cc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	fail := func(err error, fresh bool) (response, bool, error) {
		_ = c.dropConn()
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return response{}, fresh, err
	}
	cc.budget.reset(maxResponseBytes)
	if _, err := cc.Write(req); err != nil {
		return fail(fmt.Errorf("wsman: send request: %w", err), true)
	}
	resp, keep, err := readResponse(cc.br)
	if err != nil {
		return fail(err, cc.budget.read == 0)
	}
	if keep {
		_ = cc.SetDeadline(time.Time{})
	} else {
		_ = c.dropConn()
	}
	return resp, false, nil
}

// readResponse reads one HTTP response, chunked or not; keep says the
// connection may carry another (AMT closes after a 401).
func readResponse(br *bufio.Reader) (response, bool, error) {
	hr, err := http.ReadResponse(br, nil)
	if err != nil {
		return response{}, false, fmt.Errorf("wsman: read response: %w", err)
	}
	body, err := io.ReadAll(hr.Body)
	_ = hr.Body.Close()
	if err != nil {
		return response{}, false, fmt.Errorf("wsman: read response body: %w", err)
	}
	keep := !hr.Close && hr.StatusCode != http.StatusUnauthorized
	return response{status: hr.StatusCode, header: hr.Header, body: body}, keep, nil
}
