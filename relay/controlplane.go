package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/api"
	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/shares"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// controlPlane is the relay's accounts, console sessions (with their reconciler) and the
// /api/v1 routes over the store.
type controlPlane struct {
	accounts *accounts.Service
	sessions *sessions.Manager
	shares   *shares.Service
	// recordings is the recordings' policy and catalogue; the relay's recorder writes them.
	recordings *recordings.Service
	api        *api.API
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func newControlPlane(cfg Config, st store.Store, iss *auth.Issuer, log *slog.Logger) (*controlPlane, error) {
	key, err := LoadSecretKey(cfg.DataDir, cfg.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	acc, err := accounts.New(accounts.Config{Store: st, Issuer: iss, PublicURL: cfg.PublicURL, OIDC: cfg.OIDC,
		Mailer: cfg.Mailer, SecretKey: key, Logger: log.With("component", "accounts")})
	if err != nil {
		return nil, fmt.Errorf("relay: accounts: %w", err)
	}
	mgr, err := sessions.New(sessions.Config{Store: st, Issuer: iss, PublicURL: cfg.PublicURL, ReconnectGrace: cfg.ConsoleReconnectGrace,
		ConsoleTokenTTL: cfg.ConsoleTokenTTL, Logger: log.With("component", "sessions")})
	if err != nil {
		_ = acc.Close(context.Background())
		return nil, fmt.Errorf("relay: sessions: %w", err)
	}
	// Built here, not in start: signaling, wired before start, asks it whether an
	// organization captures keys.
	dir := cfg.RecordingsDir
	if dir == "" {
		dir = recordings.DefaultDir(cfg.DataDir)
	}
	recs, err := recordings.New(recordings.Config{Store: st, RecordingsDir: dir, Logger: log.With("component", "recordings")})
	if err != nil {
		_ = acc.Close(context.Background())
		return nil, fmt.Errorf("relay: recordings: %w", err)
	}
	return &controlPlane{accounts: acc, sessions: mgr, recordings: recs}, nil
}

// start wires the parts that need the signaling server and runs the reconciler.
func (cp *controlPlane) start(r *Relay) error {
	var err error
	// Share links name the relay as it is reached: the bound address when no public URL was
	// given (a --listen port of 0 is only known now).
	cp.shares, err = shares.New(shares.Config{Store: r.store, Sessions: cp.sessions, PublicURL: r.URL(), Logger: r.log.With("component", "shares")})
	if err != nil {
		return fmt.Errorf("relay: shares: %w", err)
	}
	cp.api, err = api.New(api.Config{Store: r.store, Recordings: cp.recordings, Accounts: cp.accounts, Sessions: cp.sessions,
		Devices: deviceCutter{r.sig}, Denied: r.denied, Presence: consolePresence{r.shared.registry}, Consent: consentRelay{r.sig},
		Shares: cp.shares, Logger: r.log.With("component", "api")})
	if err != nil {
		return fmt.Errorf("relay: api: %w", err)
	}
	cp.sessions.SetDisconnector(sessionEnder{sig: r.sig, log: r.log})
	cp.sessions.SetRegranter(sessionRegranter{r.sig})
	ctx, cancel := context.WithCancel(context.Background())
	cp.cancel = cancel
	cp.wg.Go(func() { cp.sessions.Run(ctx) })
	// Retention: each organization's recordings older than it keeps them are removed, audited.
	cp.wg.Go(func() { cp.recordings.Run(ctx, time.Hour) })
	return nil
}

func (cp *controlPlane) close() error {
	if cp.cancel != nil {
		cp.cancel()
	}
	cp.wg.Wait()
	return cp.accounts.Close(context.Background())
}

// deviceCutter adapts signaling's bus-wide disconnect to the API.
type deviceCutter struct{ sig *signaling.Server }

func (d deviceCutter) DisconnectDevice(ctx context.Context, deviceID string) error {
	_, err := d.sig.DisconnectDevice(ctx, deviceID, "device revoked")
	return err
}

// consolePresence answers from signaling's registry, which holds every connected console of
// the deployment (in process, or in Redis across nodes).
type consolePresence struct{ reg signaling.Registry }

func (p consolePresence) ConsoleConnected(ctx context.Context, sid string) (bool, error) {
	_, err := p.reg.Session(ctx, sid)
	if errors.Is(err, signaling.ErrUnknownSession) {
		return false, nil
	}
	return err == nil, err
}

// sessionGate is the session manager as signaling's SessionGate: a definite end (stopped,
// expired, mismatched, device revoked, a right of the principal removed) becomes
// signaling.ErrSessionOver; anything else, a store outage say, stays transient.
type sessionGate struct{ m *sessions.Manager }

func (g sessionGate) Admit(ctx context.Context, c auth.Claims) (wire.Grant, error) {
	grant, err := g.m.Admit(ctx, c)
	return grant, over(err)
}

func (g sessionGate) Check(ctx context.Context, c auth.Claims) (wire.Grant, error) {
	grant, err := g.m.Check(ctx, c)
	return grant, over(err)
}

// sessionRegranter is the sessions manager's Regranter: a grant changed by a rights change
// reaches the console's agent through whichever node holds the console.
type sessionRegranter struct{ sig *signaling.Server }

func (r sessionRegranter) Regrant(ctx context.Context, sid string, grant wire.Grant) error {
	return r.sig.RegrantSession(ctx, sid, grant)
}

func over(err error) error {
	if errors.Is(err, sessions.ErrEnded) || errors.Is(err, sessions.ErrMismatch) || errors.Is(err, sessions.ErrDeviceRevoked) ||
		errors.Is(err, sessions.ErrNotAllowed) {
		return fmt.Errorf("%w: %w", signaling.ErrSessionOver, err)
	}
	return err
}
