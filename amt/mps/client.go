package mps

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// maxBody bounds every MPS reply body read.
const maxBody = 1 << 20

// Paths are the routes to MPS, which differ when a gateway sits in front.
type Paths struct {
	API   string // REST prefix, e.g. "/api/v1"
	Login string // the login route, e.g. "/api/v1/authorize"
	Relay string // the relay WebSocket, e.g. "/relay/webrelay.ashx"
}

// DirectPaths are MPS's own routes (the zero Paths means these).
func DirectPaths() Paths {
	return Paths{API: "/api/v1", Login: "/api/v1/authorize", Relay: "/relay/webrelay.ashx"}
}

// KongPaths are the routes through the Kong gateway of Intel's cloud deployment, which
// strips /mps from REST, has its own login route, and maps /mps/ws/relay to /relay.
func KongPaths() Paths {
	return Paths{API: "/mps/api/v1", Login: "/mps/login/api/v1/authorize", Relay: "/mps/ws/relay/webrelay.ashx"}
}

// Config configures a Client.
type Config struct {
	// BaseURL is MPS's web address: https://host:port, or http:// on a trusted network. A path
	// in it prefixes every route.
	BaseURL *url.URL
	// User and Password log in to MPS (its web admin user).
	User, Password string
	// HTTPClient carries the trust for MPS's certificate; nil means http.DefaultClient.
	HTTPClient *http.Client
	// TLS is used for the relay WebSocket; nil takes the TLS config of HTTPClient's
	// *http.Transport.
	TLS *tls.Config
	// Paths are the routes; the zero value means DirectPaths.
	Paths  Paths
	Logger *slog.Logger
}

// Client talks to one MPS. It logs in on first use, caches the token and logs in again once
// when MPS answers 401. Safe for concurrent use.
type Client struct {
	base  *url.URL
	user  string
	pass  string
	hc    *http.Client
	tls   *tls.Config
	proxy func(*http.Request) (*url.URL, error)
	paths Paths
	log   *slog.Logger

	loginMu sync.Mutex // one login at a time
	mu      sync.Mutex
	token   string
}

// New makes a Client. It does not contact MPS.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == nil || (cfg.BaseURL.Scheme != "https" && cfg.BaseURL.Scheme != "http") || cfg.BaseURL.Host == "" {
		return nil, errors.New("mps: the MPS address must be an https:// (or http://) URL with a host")
	}
	if cfg.User == "" || cfg.Password == "" {
		return nil, errors.New("mps: an MPS user name and password are needed")
	}
	c := &Client{
		base:  cfg.BaseURL,
		user:  cfg.User,
		pass:  cfg.Password,
		hc:    cfg.HTTPClient,
		tls:   cfg.TLS,
		paths: cfg.Paths,
		log:   cfg.Logger,
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if t, ok := c.hc.Transport.(*http.Transport); ok {
		c.proxy = t.Proxy
		if c.tls == nil && t.TLSClientConfig != nil {
			c.tls = t.TLSClientConfig.Clone()
		}
	}
	if c.paths == (Paths{}) {
		c.paths = DirectPaths()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// Login logs in (POST /authorize) and caches the token for the calls that follow.
func (c *Client) Login(ctx context.Context) error {
	_, err := c.login(ctx, "")
	return err
}

// login logs in unless the cached token differs from stale (another caller renewed it).
func (c *Client) login(ctx context.Context, stale string) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if tok := c.cachedToken(); tok != "" && tok != stale {
		return tok, nil
	}
	body := map[string]string{"username": c.user, "password": c.pass}
	r, err := c.send(ctx, http.MethodPost, c.paths.Login, body, "")
	if err != nil {
		return "", err
	}
	switch r.status {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return "", fmt.Errorf("mps: login as %q: %w", c.user, ErrUnauthorized)
	case http.StatusMethodNotAllowed:
		return "", errors.New("mps: MPS has web login disabled (web_auth_enabled): enable it, or put a gateway with login in front")
	default:
		return "", r.statusError(http.MethodPost, c.paths.Login)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.Token == "" {
		return "", errors.New("mps: MPS answered the login without a token: check that the address points at MPS")
	}
	c.mu.Lock()
	c.token = out.Token
	c.mu.Unlock()
	c.log.Debug("mps: logged in", "mps", c.base.Host, "user", c.user)
	return out.Token, nil
}

func (c *Client) cachedToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// reply is one MPS answer, its body already read (bounded).
type reply struct {
	status int
	body   []byte
}

// statusError describes an unexpected status, with MPS's error text when it sent one.
func (r reply) statusError(method, path string) error {
	return &StatusError{Op: method + " " + path, Status: r.status, Message: errorText(r.body)}
}

// errorText pulls a human message out of MPS's error bodies: {error, errorDescription},
// {message}, or express-validator's {errors:[{msg}]}.
func errorText(body []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"errorDescription"`
		Message     string `json:"message"`
		Errors      []struct {
			Msg string `json:"msg"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var parts []string
	for _, s := range []string{e.Error, e.Description, e.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	for i, v := range e.Errors {
		if i == 3 {
			break
		}
		parts = append(parts, v.Msg)
	}
	s := strings.Join(parts, "; ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// call sends an authorized request, logging in first if needed and once more on a 401.
func (c *Client) call(ctx context.Context, method, path string, in any) (reply, error) {
	tok := c.cachedToken()
	if tok == "" {
		var err error
		if tok, err = c.login(ctx, ""); err != nil {
			return reply{}, err
		}
	}
	r, err := c.send(ctx, method, path, in, tok)
	if err != nil {
		return reply{}, err
	}
	if r.status != http.StatusUnauthorized {
		return r, nil
	}
	c.log.Debug("mps: token refused, logging in again", "mps", c.base.Host, "path", path)
	if tok, err = c.login(ctx, tok); err != nil {
		return reply{}, err
	}
	if r, err = c.send(ctx, method, path, in, tok); err != nil {
		return reply{}, err
	}
	if r.status == http.StatusUnauthorized {
		return reply{}, fmt.Errorf("mps: %s %s refused a fresh token: %w", method, path, ErrUnauthorized)
	}
	return r, nil
}

// send makes one HTTP request and reads at most maxBody of the reply.
func (c *Client) send(ctx context.Context, method, path string, in any, token string) (reply, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return reply{}, fmt.Errorf("mps: encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := c.url(path)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return reply{}, fmt.Errorf("mps: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("mps: %s %s: cannot reach MPS at %s (check the address, the network and the CA): %w", method, path, c.base.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return reply{}, fmt.Errorf("mps: %s %s: read reply: %w", method, path, err)
	}
	if len(b) > maxBody {
		return reply{}, fmt.Errorf("mps: %s %s: reply larger than %d bytes", method, path, maxBody)
	}
	return reply{status: resp.StatusCode, body: b}, nil
}

// url joins the base URL's path, a route and its query (path may hold "?query").
func (c *Client) url(path string) *url.URL {
	u := *c.base
	route, query, _ := strings.Cut(path, "?")
	u.Path = strings.TrimSuffix(c.base.Path, "/") + route
	u.RawPath = ""
	u.RawQuery = query
	return &u
}

// decode unmarshals a 200 reply.
func decode(r reply, what string, out any) error {
	if err := json.Unmarshal(r.body, out); err != nil {
		return fmt.Errorf("mps: MPS sent an unreadable %s: %w", what, err)
	}
	return nil
}
