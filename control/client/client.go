package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// apiPrefix is the path of the API under the server URL.
	apiPrefix = "/api/v1"
	// refreshSkew refreshes an access token this long before it expires.
	refreshSkew = 30 * time.Second
	// maxBody bounds what is read of a successful answer; maxErrorBody of an error answer.
	maxBody      = 64 << 20
	maxErrorBody = 64 << 10
	userAgent    = "kvmctl"
)

// Config configures a Client. Every field is optional.
type Config struct {
	// Server is the relay's base URL (https://relay.example.com, or with a path prefix when
	// the relay is behind one). Empty: the server remembered in config.json.
	Server string
	// HTTPClient sends the requests; nil is a client with a 60 s timeout.
	HTTPClient *http.Client
	// ConfigDir holds config.json and credentials.json; empty: ConfigDir(os.Getenv).
	ConfigDir string
	// APIKey, when set, authenticates every request instead of the stored credentials (and
	// is never written anywhere).
	APIKey string
	// AllowHTTP permits a plain http:// server that is not on loopback. Without it such a
	// server is refused: passwords and tokens would cross the network in clear.
	AllowHTTP bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Client talks to one relay's control-plane API. It is safe for concurrent use.
type Client struct {
	server   string
	hc       *http.Client
	dir      string
	apiKey   string
	now      func() time.Time
	settings Settings

	// mu serializes token refreshes inside the process (the directory lock does across
	// processes).
	mu sync.Mutex
}

// New makes a client. It reads config.json from the config directory; a missing server is an
// error only when a request needs it (ErrNoServer).
func New(cfg Config) (*Client, error) {
	c := &Client{hc: cfg.HTTPClient, dir: cfg.ConfigDir, apiKey: cfg.APIKey, now: cfg.Now}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 60 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.dir == "" {
		d, err := ConfigDir(os.Getenv)
		if err != nil {
			return nil, err
		}
		c.dir = d
	}
	if _, err := readJSON(c.settingsPath(), &c.settings); err != nil {
		return nil, err
	}
	server := cfg.Server
	if server == "" {
		server = c.settings.Server
	}
	if server != "" {
		s, err := NormalizeServer(server, cfg.AllowHTTP)
		if err != nil {
			return nil, err
		}
		c.server = s
	}
	return c, nil
}

// Server is the server URL the client talks to ("" when none is known).
func (c *Client) Server() string { return c.server }

// Settings is config.json as read when the client was made.
func (c *Client) Settings() Settings { return c.settings }

// Dir is the config directory.
func (c *Client) Dir() string { return c.dir }

// NormalizeServer checks a server URL (http or https, a host, no credentials, query or
// fragment) and returns it without a trailing slash. Plain http is refused off loopback unless
// allowHTTP.
func NormalizeServer(s string, allowHTTP bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", &UsageError{Msg: fmt.Sprintf("server URL %q: %v", s, err)}
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "", &UsageError{Msg: fmt.Sprintf("server URL %q: want https://HOST[:PORT][/PATH]", s)}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", &UsageError{Msg: fmt.Sprintf("server URL %q: no user, query or fragment, please", s)}
	}
	if u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		return "", &UsageError{Msg: fmt.Sprintf("server URL %q: plain http off loopback would send passwords and tokens in clear; use https (or --allow-http on a network you trust)", s)}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// request is one API call; body is already encoded so it can be sent twice.
type request struct {
	method string
	path   string // under apiPrefix, escaped
	query  url.Values
	body   []byte
}

func newRequest(method, path string, query url.Values, in any) (request, error) {
	r := request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return r, fmt.Errorf("client: encode %s %s: %w", method, path, err)
		}
		r.body = b
	}
	return r, nil
}

// do sends an authenticated request and decodes a successful answer into out (nil: ignore it).
// A 401 on a login's access token refreshes it and retries once.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	r, err := newRequest(method, path, query, in)
	if err != nil {
		return err
	}
	tok, refreshable, err := c.bearer(ctx)
	if err != nil {
		return err
	}
	err = c.send(ctx, r, tok, out)
	var ae *APIError
	if refreshable && errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && ae.Code != CodeMFARequired {
		tok, err = c.refresh(ctx, tok)
		if err != nil {
			return err
		}
		err = c.send(ctx, r, tok, out)
	}
	return err
}

// bearer is the token to send: the API key, or the stored access token (refreshed first when
// it has expired). refreshable says whether a 401 may be cured by a refresh.
func (c *Client) bearer(ctx context.Context) (tok string, refreshable bool, err error) {
	if c.server == "" {
		return "", false, ErrNoServer
	}
	if c.apiKey != "" {
		return c.apiKey, false, nil
	}
	cr, ok, err := c.loadCredentials()
	if err != nil {
		return "", false, err
	}
	switch {
	case !ok:
		return "", false, c.notLoggedIn()
	case cr.APIKey != "":
		return cr.APIKey, false, nil
	case cr.RefreshToken == "" && cr.AccessToken == "":
		return "", false, c.notLoggedIn()
	case cr.RefreshToken != "" && !c.now().Add(refreshSkew).Before(cr.AccessExpiresAt):
		tok, err := c.refresh(ctx, cr.AccessToken)
		return tok, true, err
	}
	return cr.AccessToken, cr.RefreshToken != "", nil
}

func (c *Client) notLoggedIn() error {
	return fmt.Errorf("%w to %s: run kvmctl --server %s login", ErrNotLoggedIn, c.server, c.server)
}

// refresh replaces the access token that failed (or expired) with a new one. Under the
// directory lock it re-reads credentials.json first: when another process has already
// refreshed, its token is taken and the (rotated) refresh token is not presented again.
func (c *Client) refresh(ctx context.Context, failed string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	cr, ok, err := c.loadCredentials()
	if err != nil {
		return "", err
	}
	if !ok || cr.RefreshToken == "" {
		return "", c.notLoggedIn()
	}
	if cr.AccessToken != "" && cr.AccessToken != failed && c.now().Add(refreshSkew).Before(cr.AccessExpiresAt) {
		return cr.AccessToken, nil // refreshed meanwhile by someone else
	}
	if !cr.RefreshExpiresAt.IsZero() && !c.now().Before(cr.RefreshExpiresAt) {
		return "", fmt.Errorf("%w: the session expired at %s; run kvmctl --server %s login",
			ErrNotLoggedIn, cr.RefreshExpiresAt.UTC().Format(time.RFC3339), c.server)
	}
	r, err := newRequest(http.MethodPost, "/auth/refresh", nil, map[string]string{"refresh_token": cr.RefreshToken})
	if err != nil {
		return "", err
	}
	var t Tokens
	if err := c.send(ctx, r, "", &t); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			return "", fmt.Errorf("refreshing the session: %w; run kvmctl --server %s login", err, c.server)
		}
		return "", fmt.Errorf("refreshing the session: %w", err)
	}
	if t.AccessToken == "" {
		return "", fmt.Errorf("refreshing the session: the server answered no access token")
	}
	if t.RefreshToken == "" { // not rotated: keep the one we have
		t.RefreshToken, t.RefreshExpiresAt = cr.RefreshToken, cr.RefreshExpiresAt
	}
	if err := c.saveCredentials(credentialsOf(c.server, t)); err != nil {
		return "", fmt.Errorf("refreshing the session: the new refresh token could not be stored (log in again): %w", err)
	}
	return t.AccessToken, nil
}

func credentialsOf(server string, t Tokens) Credentials {
	return Credentials{
		Server:           server,
		AccessToken:      t.AccessToken,
		AccessExpiresAt:  t.AccessExpiresAt,
		RefreshToken:     t.RefreshToken,
		RefreshExpiresAt: t.RefreshExpiresAt,
	}
}

// send makes one HTTP exchange with bearer token tok ("" for none).
func (c *Client) send(ctx context.Context, r request, tok string, out any) error {
	if c.server == "" {
		return ErrNoServer
	}
	u := c.server + apiPrefix + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
		}
		return &UnreachableError{Server: c.server, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.apiError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if raw, ok := out.(*rawBody); ok {
		return raw.copyFrom(ctx, r, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
		}
		return &UnreachableError{Server: c.server, Err: fmt.Errorf("reading the answer to %s %s: %w", r.method, r.path, err)}
	}
	if len(b) > maxBody {
		return fmt.Errorf("%s %s: the answer is larger than %d MiB", r.method, r.path, maxBody>>20)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the server's answer is not what this kvmctl expects (HTTP %d, %s): %w",
			r.method, r.path, resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// apiError reads an error answer: {"code","message"}, or a status without a JSON body (a
// proxy's), where 502, 503 and 504 mean the relay behind it is unreachable.
func (c *Client) apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now())}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &body) == nil && body.Code != "" {
		e.Code, e.Message = body.Code, body.Message
		return e
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &UnreachableError{Server: c.server, Err: fmt.Errorf("HTTP %d %s from a proxy in front of it", resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	e.Code = codeForStatus(resp.StatusCode)
	e.Message = strings.TrimSpace(string(b))
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "…"
	}
	return e
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
