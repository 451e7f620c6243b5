package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Login logs in with a password (and the second factor when req carries one). On success the
// tokens are stored in credentials.json and the server, organization and email in config.json.
// When the server wants a second factor the error satisfies IsMFARequired.
func (c *Client) Login(ctx context.Context, req LoginRequest) (Tokens, error) {
	if c.server == "" {
		return Tokens{}, ErrNoServer
	}
	prev := c.Settings()
	if req.DeviceToken == "" && prev.Server == c.server && strings.EqualFold(prev.Email, req.Email) {
		req.DeviceToken = prev.DeviceToken
	}
	r, err := newRequest(http.MethodPost, "/auth/login", nil, req)
	if err != nil {
		return Tokens{}, err
	}
	var t Tokens
	if err := c.send(ctx, r, "", &t); err != nil {
		return Tokens{}, fmt.Errorf("login: %w", err)
	}
	if t.AccessToken == "" || t.RefreshToken == "" {
		return Tokens{}, errors.New("login: the server answered without tokens")
	}
	st := Settings{Server: c.server, Org: req.Org, Email: req.Email, DeviceToken: t.DeviceToken}
	if st.DeviceToken == "" {
		st.DeviceToken = req.DeviceToken // the server kept the one shown
	}
	if err := c.remember(ctx, credentialsOf(c.server, t), st); err != nil {
		return Tokens{}, fmt.Errorf("login: %w", err)
	}
	return t, nil
}

// LoginAPIKey checks an API key against the server (GET /me) and stores it as the credentials
// for the server.
func (c *Client) LoginAPIKey(ctx context.Context, key string) (Me, error) {
	if c.server == "" {
		return Me{}, ErrNoServer
	}
	var me Me
	if err := c.send(ctx, request{method: http.MethodGet, path: "/me"}, key, &me); err != nil {
		return Me{}, fmt.Errorf("login with API key: %w", err)
	}
	st := Settings{Server: c.server, Org: me.OrgSlug, Email: me.Email}
	if err := c.remember(ctx, Credentials{Server: c.server, APIKey: key}, st); err != nil {
		return Me{}, fmt.Errorf("login with API key: %w", err)
	}
	return me, nil
}

// remember stores credentials and settings (under the directory lock).
func (c *Client) remember(ctx context.Context, cr Credentials, st Settings) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.saveCredentials(cr); err != nil {
		return err
	}
	if err := writeJSON(c.settingsPath(), st, 0o600); err != nil {
		return err
	}
	c.settings = st
	return nil
}

// Logout ends the stored login: the server revokes the refresh token, and credentials.json is
// removed whatever the server answered. An error says the server did not confirm (a refresh
// token the server already refused counts as logged out). A stored API key is only forgotten
// here: it stays valid until revoked.
func (c *Client) Logout(ctx context.Context) (hadAPIKey bool, err error) {
	if c.server == "" {
		return false, ErrNoServer
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	cr, ok, err := c.loadCredentials()
	if err != nil {
		return false, err
	}
	if !ok {
		return false, c.notLoggedIn()
	}
	var serverErr error
	if cr.RefreshToken != "" {
		r, err := newRequest(http.MethodPost, "/auth/logout", nil, map[string]string{"refresh_token": cr.RefreshToken})
		if err != nil {
			return false, err
		}
		tok := ""
		if c.now().Before(cr.AccessExpiresAt) {
			tok = cr.AccessToken
		}
		serverErr = c.send(ctx, r, tok, nil)
		var ae *APIError
		if errors.As(serverErr, &ae) && ae.Status == http.StatusUnauthorized {
			serverErr = nil // the refresh token is dead already
		}
	}
	if err := os.Remove(c.credentialsPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return cr.APIKey != "", fmt.Errorf("logout: remove credentials: %w", err)
	}
	if serverErr != nil {
		return cr.APIKey != "", fmt.Errorf("logout: credentials removed here, but the server did not revoke the session: %w", serverErr)
	}
	return cr.APIKey != "", nil
}

// Me is the principal of the credentials.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var me Me
	if err := c.do(ctx, http.MethodGet, "/me", nil, nil, &me); err != nil {
		return Me{}, fmt.Errorf("who am I: %w", err)
	}
	return me, nil
}

func seg(s string) string { return url.PathEscape(s) }

// Devices lists the devices the principal can see.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var out struct {
		Devices []Device `json:"devices"`
	}
	if err := c.do(ctx, http.MethodGet, "/devices", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out.Devices, nil
}

// Device gets one device by id.
func (c *Client) Device(ctx context.Context, id string) (Device, error) {
	var d Device
	if err := c.do(ctx, http.MethodGet, "/devices/"+seg(id), nil, nil, &d); err != nil {
		return Device{}, fmt.Errorf("get device %s: %w", id, err)
	}
	return d, nil
}

// CreateDevice creates a device (then mint an enrollment token for its agent).
func (c *Client) CreateDevice(ctx context.Context, name string, labels map[string]string) (Device, error) {
	return c.CreateDeviceWith(ctx, NewDevice{Name: name, Labels: labels})
}

// CreateDeviceWith creates an agent device, a gateway, or an AMT machine a gateway serves.
func (c *Client) CreateDeviceWith(ctx context.Context, nd NewDevice) (Device, error) {
	if nd.Labels == nil {
		nd.Labels = map[string]string{}
	}
	var d Device
	if err := c.do(ctx, http.MethodPost, "/devices", nil, nd, &d); err != nil {
		return Device{}, fmt.Errorf("create device %q: %w", nd.Name, err)
	}
	return d, nil
}

// RevokeDevice revokes a device: its certificate and live connections end.
func (c *Client) RevokeDevice(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, "/devices/"+seg(id), nil, nil, nil); err != nil {
		return fmt.Errorf("revoke device %s: %w", id, err)
	}
	return nil
}

// DeleteDevice deletes a revoked device (the server refuses one not revoked yet with a
// conflict); its audit entries stay.
func (c *Client) DeleteDevice(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, "/devices/"+seg(id), url.Values{"purge": {"true"}}, nil, nil); err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	}
	return nil
}

// UpdateDevice renames a device (name non-nil) and/or replaces its labels (labels non-nil).
func (c *Client) UpdateDevice(ctx context.Context, id string, name *string, labels map[string]string) (Device, error) {
	return c.UpdateDeviceWith(ctx, id, DeviceChange{Name: name, Labels: labels})
}

// UpdateDeviceWith renames, relabels and/or retags a device (see DeviceChange).
func (c *Client) UpdateDeviceWith(ctx context.Context, id string, ch DeviceChange) (Device, error) {
	in := map[string]any{}
	if ch.Name != nil {
		in["name"] = *ch.Name
	}
	if ch.Labels != nil {
		in["labels"] = ch.Labels
	}
	if ch.AMTTags != nil {
		in["amt_tags"] = ch.AMTTags
	}
	var d Device
	if err := c.do(ctx, http.MethodPatch, "/devices/"+seg(id), nil, in, &d); err != nil {
		return Device{}, fmt.Errorf("update device %s: %w", id, err)
	}
	return d, nil
}

// CreateEnrollmentToken mints a one-time enrollment token for a device's agent.
func (c *Client) CreateEnrollmentToken(ctx context.Context, deviceID string) (EnrollmentToken, error) {
	var t EnrollmentToken
	if err := c.do(ctx, http.MethodPost, "/devices/"+seg(deviceID)+"/enrollment-tokens", nil, struct{}{}, &t); err != nil {
		return EnrollmentToken{}, fmt.Errorf("enrollment token for device %s: %w", deviceID, err)
	}
	return t, nil
}

// StartConsole starts a console session on a device.
func (c *Client) StartConsole(ctx context.Context, deviceID string) (ConsoleStart, error) {
	var s ConsoleStart
	if err := c.do(ctx, http.MethodPost, "/devices/"+seg(deviceID)+"/sessions", nil, struct{}{}, &s); err != nil {
		return ConsoleStart{}, fmt.Errorf("start console on device %s: %w", deviceID, err)
	}
	return s, nil
}

// StopConsole stops a device's live console sessions and says how many there were.
func (c *Client) StopConsole(ctx context.Context, deviceID string) (int, error) {
	var out struct {
		Stopped int `json:"stopped"`
	}
	if err := c.do(ctx, http.MethodDelete, "/devices/"+seg(deviceID)+"/sessions", nil, nil, &out); err != nil {
		return 0, fmt.Errorf("stop console on device %s: %w", deviceID, err)
	}
	return out.Stopped, nil
}

// DeviceSessions lists a device's console sessions, newest first.
func (c *Client) DeviceSessions(ctx context.Context, deviceID string) ([]Session, error) {
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	if err := c.do(ctx, http.MethodGet, "/devices/"+seg(deviceID)+"/sessions", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("sessions of device %s: %w", deviceID, err)
	}
	return out.Sessions, nil
}

// Session gets one console session.
func (c *Client) Session(ctx context.Context, id string) (Session, error) {
	var s Session
	if err := c.do(ctx, http.MethodGet, "/sessions/"+seg(id), nil, nil, &s); err != nil {
		return Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return s, nil
}

// EndSession ends one console session.
func (c *Client) EndSession(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, "/sessions/"+seg(id), nil, nil, nil); err != nil {
		return fmt.Errorf("end session %s: %w", id, err)
	}
	return nil
}

// Users lists the organization's users.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out struct {
		Users []User `json:"users"`
	}
	if err := c.do(ctx, http.MethodGet, "/users", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out.Users, nil
}

// InviteUser invites someone by email.
func (c *Client) InviteUser(ctx context.Context, in Invite) (Invitation, error) {
	if in.Scope == nil {
		in.Scope = map[string]string{}
	}
	var out Invitation
	if err := c.do(ctx, http.MethodPost, "/users/invitations", nil, in, &out); err != nil {
		return Invitation{}, fmt.Errorf("invite %s: %w", in.Email, err)
	}
	return out, nil
}

// APIKeys lists the organization's API keys.
func (c *Client) APIKeys(ctx context.Context) ([]APIKey, error) {
	var out struct {
		APIKeys []APIKey `json:"api_keys"`
	}
	if err := c.do(ctx, http.MethodGet, "/api-keys", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return out.APIKeys, nil
}

// CreateAPIKey creates an API key; the answer holds its secret, shown this once.
func (c *Client) CreateAPIKey(ctx context.Context, in NewAPIKey) (CreatedAPIKey, error) {
	if in.Scope == nil {
		in.Scope = map[string]string{}
	}
	var out CreatedAPIKey
	if err := c.do(ctx, http.MethodPost, "/api-keys", nil, in, &out); err != nil {
		return CreatedAPIKey{}, fmt.Errorf("create API key %q: %w", in.Name, err)
	}
	return out, nil
}

// RevokeAPIKey revokes an API key.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, "/api-keys/"+seg(id), nil, nil, nil); err != nil {
		return fmt.Errorf("revoke API key %s: %w", id, err)
	}
	return nil
}

// Audit reads one page of the audit chain: entries with seq > after, at most limit of them
// (limit ≤ 0: the server's default). An empty page is the end.
func (c *Client) Audit(ctx context.Context, after int64, limit int) (AuditPage, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var raw struct {
		Entries   []json.RawMessage `json:"entries"`
		NextAfter int64             `json:"next_after"`
	}
	if err := c.do(ctx, http.MethodGet, "/audit", q, nil, &raw); err != nil {
		return AuditPage{}, fmt.Errorf("read audit after %d: %w", after, err)
	}
	p := AuditPage{NextAfter: raw.NextAfter, Entries: make([]AuditEntry, 0, len(raw.Entries))}
	for i, r := range raw.Entries {
		var e AuditEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return AuditPage{}, fmt.Errorf("read audit after %d: entry %d: %w", after, i, err)
		}
		e.Raw = r
		p.Entries = append(p.Entries, e)
	}
	if n := len(p.Entries); n > 0 && p.NextAfter == 0 {
		p.NextAfter = p.Entries[n-1].Seq
	}
	return p, nil
}

// ExportAudit walks the audit chain from after to its end, page by page, calling fn for every
// entry in order. It refuses a server whose pages do not move forward.
func (c *Client) ExportAudit(ctx context.Context, after int64, pageSize int, fn func(AuditEntry) error) error {
	for {
		p, err := c.Audit(ctx, after, pageSize)
		if err != nil {
			return fmt.Errorf("export audit: %w", err)
		}
		if len(p.Entries) == 0 {
			return nil
		}
		last := after
		for _, e := range p.Entries {
			if e.Seq <= last {
				return fmt.Errorf("export audit: the server sent seq %d after seq %d", e.Seq, last)
			}
			last = e.Seq
			if err := fn(e); err != nil {
				return err
			}
		}
		if p.NextAfter <= after {
			return fmt.Errorf("export audit: the server's next page (after %d) does not move past %d", p.NextAfter, after)
		}
		after = p.NextAfter
	}
}

// VerifyAudit asks the server to walk the audit chain. A broken chain is not an error here:
// see AuditVerification.Err.
func (c *Client) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var v AuditVerification
	if err := c.do(ctx, http.MethodGet, "/audit/verify", nil, nil, &v); err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit: %w", err)
	}
	return v, nil
}

// Consent is a console session's user consent (Intel AMT shows a 6-digit code on the
// managed machine's screen): "none", "required" (with the window), "accepted", "cancelled".
type Consent struct {
	State       string     `json:"state"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	SecondsLeft *int       `json:"seconds_left,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`
}

func consentPath(deviceID, sid string) string {
	return "/devices/" + seg(deviceID) + "/sessions/" + seg(sid) + "/consent"
}

// ConsentStatus reads what a console session's consent waits for.
func (c *Client) ConsentStatus(ctx context.Context, deviceID, sid string) (Consent, error) {
	var out Consent
	if err := c.do(ctx, http.MethodGet, consentPath(deviceID, sid), nil, nil, &out); err != nil {
		return Consent{}, fmt.Errorf("consent of session %s: %w", sid, err)
	}
	return out, nil
}

// SubmitConsent enters the code the machine shows; the answer says whether it took it.
func (c *Client) SubmitConsent(ctx context.Context, deviceID, sid, code string) (Consent, error) {
	var out Consent
	if err := c.do(ctx, http.MethodPost, consentPath(deviceID, sid), nil, struct {
		Code string `json:"code"`
	}{code}, &out); err != nil {
		return Consent{}, fmt.Errorf("consent code for session %s: %w", sid, err)
	}
	return out, nil
}

// CancelConsent withdraws a session's consent request; the session ends.
func (c *Client) CancelConsent(ctx context.Context, deviceID, sid string) (Consent, error) {
	var out Consent
	if err := c.do(ctx, http.MethodDelete, consentPath(deviceID, sid), nil, nil, &out); err != nil {
		return Consent{}, fmt.Errorf("cancel consent of session %s: %w", sid, err)
	}
	return out, nil
}
