package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Errors callers map to answers.
var (
	// ErrDeviceRevoked: the device can no longer be reached.
	ErrDeviceRevoked = errors.New("sessions: device revoked")
	// ErrEnded: the session is stopped, failed or expired.
	ErrEnded = errors.New("sessions: session ended")
	// ErrMismatch: a console token does not match the session it names.
	ErrMismatch = errors.New("sessions: token does not match the session")
	// ErrGatewayDevice: a gateway has no screen of its own; consoles open on the machines it
	// serves. Matched by a *RefusedError.
	ErrGatewayDevice = errors.New("sessions: device is a gateway")
	// ErrGatewayRevoked: the gateway that serves the device is revoked. Matched by a
	// *RefusedError.
	ErrGatewayRevoked = errors.New("sessions: the device's gateway is revoked")
)

// RefusedError is a console Start refused for a reason people can act on: Error is the
// sentence to show; it matches Err.
type RefusedError struct {
	Msg string
	Err error
}

func (e *RefusedError) Error() string { return e.Msg }
func (e *RefusedError) Unwrap() error { return e.Err }

// Disconnector cuts a session's live console connection on this node (signaling).
type Disconnector interface {
	EndSession(sid, reason string) bool
}

// Config configures a Manager.
type Config struct {
	Store  store.Store
	Issuer *auth.Issuer
	// PublicURL is the relay's base URL for console links.
	PublicURL string
	// LinkTTL is how long a console URL may wait before it is opened (default 10 min); a
	// session whose console never connected fails after that.
	LinkTTL time.Duration
	// Interval is how often the reconciler runs (default 5 s).
	Interval time.Duration
	// ReconnectGrace is how long an ACTIVE session may go without a connected console before
	// it is stopped (default 45 s): long enough for the console to reconnect after a network
	// change, short enough that a closed tab does not leave the session open. A connected
	// console records activity every signaling session check, which must be well inside it.
	ReconnectGrace time.Duration
	// Disconnect cuts live consoles; may be set after New with SetDisconnector.
	Disconnect Disconnector
	// Regrant tells live consoles' agents of a changed grant; may be set after New with
	// SetRegranter. Nil: grants change only when a console connects again.
	Regrant Regranter
	// ConsoleTokenTTL is the lifetime of the console tokens the manager mints itself (a
	// guest's, who joins without a one-time link); default 15 min, as the relay's.
	ConsoleTokenTTL time.Duration
	Now             func() time.Time
	Logger          *slog.Logger
}

// Manager starts, stops and reconciles console sessions.
type Manager struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New makes a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Issuer == nil || cfg.PublicURL == "" {
		return nil, errors.New("sessions: a store, an issuer and the public URL are required")
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 10 * time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.ConsoleTokenTTL <= 0 {
		cfg.ConsoleTokenTTL = 15 * time.Minute
	}
	if cfg.ReconnectGrace <= 0 {
		cfg.ReconnectGrace = DefaultReconnectGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{cfg: cfg, log: cfg.Logger, now: cfg.Now}, nil
}

// SetDisconnector wires the signaling server once it exists (it needs the manager first).
func (m *Manager) SetDisconnector(d Disconnector) { m.cfg.Disconnect = d }

// SetRegranter wires the signaling server's grant changes, as SetDisconnector.
func (m *Manager) SetRegranter(r Regranter) { m.cfg.Regrant = r }

// Started is a new session with the URL that opens its console.
type Started struct {
	Session      store.ConsoleSession
	ConsoleURL   string
	URLExpiresAt time.Time
}

// Start creates a session for deviceID on behalf of principal and mints its console URL, which
// carries grant (what the caller derived: accounts.Principal.GrantOn; the relay's operator's
// choice for `kvmrelay token console`). The relay derives the grant again when the console
// connects, and whenever a right changes, for principals whose rights are stored; the others
// keep this one. A gateway is refused (ErrGatewayDevice); a device a gateway serves is reached
// through the gateway's agent, which the link names (auth.Claims Agent and Target), unless
// the gateway is revoked (ErrGatewayRevoked).
func (m *Manager) Start(ctx context.Context, orgID, principal, deviceID string, grant wire.Grant) (Started, error) {
	if !grant.Valid() {
		return Started{}, fmt.Errorf("start session on device %s: grant %q: %w", deviceID, grant, store.ErrInvalid)
	}
	now := m.now()
	var out Started
	var dev store.Device
	err := m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		org, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		if dev, err = tx.Device(ctx, deviceID); err != nil {
			return err
		}
		if dev.RevokedAt != nil {
			return fmt.Errorf("start session on device %s: %w", deviceID, ErrDeviceRevoked)
		}
		if err := gatewayAllows(ctx, tx, dev); err != nil {
			return err
		}
		max := org.Settings.MaxSessionDuration
		if max <= 0 {
			max = 8 * time.Hour
		}
		s, err := tx.CreateSession(ctx, store.ConsoleSession{
			DeviceID: deviceID, Principal: principal, Grant: string(grant),
			Current: store.SessionRequested, Desired: store.SessionActive,
			CreatedAt: now, ExpiresAt: now.Add(max),
		})
		if err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: principal, Action: store.AuditConsoleStart,
			Target: "device:" + deviceID, Details: map[string]string{"session": s.ID, "device_name": dev.Name, "grant": string(grant)}}); err != nil {
			return err
		}
		out.Session = s
		return nil
	})
	if err != nil {
		return Started{}, err
	}
	return m.link(out.Session, dev, grant)
}

// link mints the one-time console URL of session s on dev, carrying grant.
func (m *Manager) link(s store.ConsoleSession, dev store.Device, grant wire.Grant) (Started, error) {
	tok, claims, err := m.cfg.Issuer.Mint(m.claims(s, dev, auth.AudienceLogin, grant), m.cfg.LinkTTL)
	if err != nil {
		return Started{}, fmt.Errorf("mint console link: %w", err)
	}
	return Started{Session: s, ConsoleURL: m.cfg.PublicURL + "/console/#code=" + url.QueryEscape(tok), URLExpiresAt: claims.ExpiresAt}, nil
}

// claims are what a console link or token of session s on dev says.
func (m *Manager) claims(s store.ConsoleSession, dev store.Device, audience auth.Audience, grant wire.Grant) auth.Claims {
	return auth.Claims{
		Subject: s.Principal, Audience: audience,
		Device: s.DeviceID, Session: s.ID, Tenant: s.OrgID,
		Agent: dev.GatewayID, Target: dev.Target, // empty unless a gateway serves the device
		Grant: grant,
	}
}

// Stop asks for a session to end (desired STOPPED) and ends it now: current goes to STOPPED,
// the console is cut, and the stop is audited with actor and reason.
func (m *Manager) Stop(ctx context.Context, orgID, sessionID, actor, reason string) (store.ConsoleSession, error) {
	now := m.now()
	var out store.ConsoleSession
	err := m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		s, err := tx.Session(ctx, sessionID)
		if err != nil {
			return err
		}
		if s.Current.Final() {
			out = s
			return nil
		}
		if err := tx.SetSessionDesired(ctx, s.ID, store.SessionStopped, now); err != nil {
			return err
		}
		out, err = tx.TransitionSession(ctx, s.ID, s.Current, store.SessionStopped, reason, now)
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: actor, Action: store.AuditConsoleStop,
			Target: "device:" + s.DeviceID, Details: map[string]string{"session": s.ID, "reason": reason}})
		return err
	})
	if err != nil {
		return out, err
	}
	m.disconnect(out.ID, reason)
	return out, nil
}

// StopDevice stops the live sessions of a device that only accepts (nil: all of them); it
// returns how many it stopped.
func (m *Manager) StopDevice(ctx context.Context, orgID, deviceID, actor, reason string, only func(store.ConsoleSession) bool) (int, error) {
	return m.stopLive(ctx, orgID, actor, reason, func(s store.ConsoleSession) bool {
		return s.DeviceID == deviceID && (only == nil || only(s))
	})
}

// StopDevices stops the live sessions of every device in deviceIDs (a gateway and the
// devices it serves), reading the live sessions once whatever the number of devices; it
// returns how many it stopped.
func (m *Manager) StopDevices(ctx context.Context, orgID string, deviceIDs map[string]bool, actor, reason string) (int, error) {
	return m.stopLive(ctx, orgID, actor, reason, func(s store.ConsoleSession) bool { return deviceIDs[s.DeviceID] })
}

// stopLive stops the live sessions match accepts, read in one transaction; it returns how
// many it stopped.
func (m *Manager) stopLive(ctx context.Context, orgID, actor, reason string, match func(store.ConsoleSession) bool) (int, error) {
	var live []store.ConsoleSession
	err := m.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		all, err := tx.SessionsToReconcile(ctx)
		for _, s := range all {
			if match(s) {
				live = append(live, s)
			}
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	for i, s := range live {
		if _, err := m.Stop(ctx, orgID, s.ID, actor, reason); err != nil {
			return i, err
		}
	}
	return len(live), nil
}

// StopPrincipal stops every live session principal ("user:<id>", as Start recorded it) holds
// on any device of the organization, for a principal whose access ended (a disabled user); it
// returns how many it stopped.
func (m *Manager) StopPrincipal(ctx context.Context, orgID, principal, actor, reason string) (int, error) {
	var live []store.ConsoleSession
	err := m.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		all, err := tx.SessionsToReconcile(ctx)
		for _, s := range all {
			if s.Principal == principal {
				live = append(live, s)
			}
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	for i, s := range live {
		if _, err := m.Stop(ctx, orgID, s.ID, actor, reason); err != nil {
			return i, err
		}
	}
	return len(live), nil
}

func (m *Manager) disconnect(sid, reason string) {
	if m.cfg.Disconnect != nil {
		m.cfg.Disconnect.EndSession(sid, reason)
	}
}

// checkClaims loads the session a console token names and checks that it matches, and
// derives the grant its principal holds on the session's device now.
func (m *Manager) checkClaims(ctx context.Context, tx store.Tx, c auth.Claims) (store.ConsoleSession, wire.Grant, error) {
	s, err := tx.Session(ctx, c.Session)
	if err != nil {
		return s, "", fmt.Errorf("session %s: %w", c.Session, errors.Join(ErrMismatch, err))
	}
	if s.DeviceID != c.Device || s.Principal != c.Subject || s.OrgID != c.Tenant {
		return s, "", fmt.Errorf("session %s: device, principal or organization differ: %w", c.Session, ErrMismatch)
	}
	if s.Current.Final() || s.Desired == store.SessionStopped || !m.now().Before(s.ExpiresAt) {
		return s, "", &EndError{SID: s.ID, Reason: s.Reason, kind: ErrEnded}
	}
	dev, err := tx.Device(ctx, s.DeviceID)
	if err != nil {
		return s, "", err
	}
	if dev.RevokedAt != nil {
		return s, "", fmt.Errorf("session %s: %w", s.ID, ErrDeviceRevoked)
	}
	grant, err := allowed(ctx, tx, s, dev, m.now())
	if err != nil {
		return s, "", err
	}
	if grant == "" {
		grant = tokenGrant(c) // rights not stored: what the session started with
	}
	return s, grant, nil
}

// tokenGrant is the grant a console token carries; tokens minted before grants existed carry
// none and mean control.
func tokenGrant(c auth.Claims) wire.Grant {
	if c.Grant == "" {
		return wire.GrantControl
	}
	return c.Grant
}

// Redeemable checks that a one-time console login for a control-plane session may still open
// its console.
func (m *Manager) Redeemable(ctx context.Context, c auth.Claims) error {
	return m.enforce(ctx, c, m.cfg.Store.Read(ctx, c.Tenant, func(tx store.Tx) error {
		_, _, err := m.checkClaims(ctx, tx, c)
		return err
	}))
}

// Admit is called when a console's signaling connection opens: the token must match a live
// session, which becomes ACTIVE and takes activity. It returns the grant the session's
// principal holds now.
func (m *Manager) Admit(ctx context.Context, c auth.Claims) (wire.Grant, error) {
	now := m.now()
	var grant wire.Grant
	err := m.enforce(ctx, c, m.cfg.Store.Write(ctx, c.Tenant, func(tx store.Tx) error {
		s, g, err := m.checkClaims(ctx, tx, c)
		if err != nil {
			return err
		}
		if s.Current == store.SessionRequested {
			if _, err := tx.TransitionSession(ctx, s.ID, store.SessionRequested, store.SessionActive, "", now); err != nil {
				return err
			}
		}
		grant = g
		if err := recordGrant(ctx, tx, s, g); err != nil {
			return err
		}
		return tx.TouchSession(ctx, s.ID, now)
	}))
	if err != nil {
		return "", err
	}
	return grant, nil
}

// Check is called periodically while a console is connected: it fails once the session
// ended anywhere (another node, the reconciler, an admin) or its principal's rights, derived
// anew, no longer cover it (then it stops the session), and records activity otherwise. It
// returns the grant the principal holds now, which the caller compares with the console's.
func (m *Manager) Check(ctx context.Context, c auth.Claims) (wire.Grant, error) {
	now := m.now()
	var grant wire.Grant
	err := m.enforce(ctx, c, m.cfg.Store.Write(ctx, c.Tenant, func(tx store.Tx) error {
		s, g, err := m.checkClaims(ctx, tx, c)
		if err != nil {
			return err
		}
		grant = g
		if err := recordGrant(ctx, tx, s, g); err != nil {
			return err
		}
		return tx.TouchSession(ctx, s.ID, now)
	}))
	if err != nil {
		return "", err
	}
	return grant, nil
}

// recordGrant keeps the session's stored grant (what session lists show) the one its console
// holds now; it writes only when that changed.
func recordGrant(ctx context.Context, tx store.Tx, s store.ConsoleSession, grant wire.Grant) error {
	if grant == "" || string(grant) == s.Grant {
		return nil
	}
	return tx.SetSessionGrant(ctx, s.ID, string(grant))
}

// gatewayAllows refuses a console on a gateway, and on a served device whose gateway is
// revoked (its own row is revoked with the gateway, so this guards rows changed behind the
// service's back).
func gatewayAllows(ctx context.Context, tx store.Tx, dev store.Device) error {
	if dev.Kind == store.DeviceGateway {
		return &RefusedError{Err: ErrGatewayDevice, Msg: fmt.Sprintf(
			"%s is a gateway: it has no screen of its own; open one of the machines it serves.", dev.Name)}
	}
	if !dev.Served() {
		return nil
	}
	gw, err := tx.Device(ctx, dev.GatewayID)
	if err != nil {
		return fmt.Errorf("gateway of device %s: %w", dev.ID, err)
	}
	if gw.RevokedAt != nil {
		return &RefusedError{Err: ErrGatewayRevoked, Msg: fmt.Sprintf(
			"%s is reached through gateway %s, which is revoked; enroll a new gateway and add the machine to it.", dev.Name, gw.Name)}
	}
	return nil
}
