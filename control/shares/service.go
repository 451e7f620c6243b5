package shares

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Limits of share links.
const (
	// DefaultGuestTTL, MinGuestTTL and MaxGuestTTL bound how long a guest link lasts.
	DefaultGuestTTL = time.Hour
	MinGuestTTL     = 5 * time.Minute
	MaxGuestTTL     = 24 * time.Hour
	// MaxLiveShares bounds the live (not revoked, not expired) shares of one session.
	MaxLiveShares = 20
)

// Config configures a Service.
type Config struct {
	Store    store.Store
	Sessions *sessions.Manager
	// PublicURL is the relay's base URL, for the links.
	PublicURL string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Service creates, lists and revokes share links and lets members and guests join through
// them.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New makes a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sessions == nil || cfg.PublicURL == "" {
		return nil, errors.New("shares: a store, the sessions manager and the public URL are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now}, nil
}

// Caller is who manages a session's shares.
type Caller struct {
	// Principal is the caller as sessions record it ("user:<id>", "apikey:<id>", …).
	Principal string
	// Console, for a caller presenting a console token, is the token's session: the only
	// session whose shares it may manage. Empty for API callers.
	Console string
	// Fallback is the grant on dev of a principal whose rights the control plane does not
	// hold (an OIDC subject's role, a console token's grant); nil: none.
	Fallback func(dev store.Device) wire.Grant
	// Admin reports whether the caller manages the shares of every session on dev (an admin
	// of the organization whose scope holds dev); nil: never.
	Admin func(dev store.Device) bool
}

// View is a share as its session's person and admins see it: never its token.
type View struct {
	Share         store.Share
	DeviceID      string
	DeviceName    string
	CreatedByName string
	// Joined counts the live sessions joined through it.
	Joined int
	// Live: neither revoked nor expired.
	Live bool
}

// Created is a new share with its link, which carries the token: shown this once.
type Created struct {
	View
	Link string
}

// Request asks for a share: its kind and, for a guest link, how long it lasts (0: the
// default hour).
type Request struct {
	Kind store.ShareKind
	TTL  time.Duration
}

// Create makes a share of session sessionID of orgID. The caller is the session's own
// person with a console that may hold control now (re-derived), or an admin; the session is
// live; a guest link needs the organization's guest links on and a duration within bounds.
// Audited as share_create.
func (s *Service) Create(ctx context.Context, orgID string, c Caller, sessionID string, req Request) (Created, error) {
	expires, err := s.expiry(req)
	if err != nil {
		return Created{}, err
	}
	now := s.now()
	var out Created
	err = s.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		sess, dev, err := s.session(ctx, tx, c, sessionID)
		if err != nil {
			return err
		}
		if sess.ShareID != "" {
			return refuse(ErrForbidden, "This console was joined through a share link: it can only watch, and cannot be shared on. Ask whoever shared it.")
		}
		if sess.Current.Final() || sess.Desired == store.SessionStopped || !now.Before(sess.ExpiresAt) {
			return refuse(ErrConflict, "This console session has ended; start a new console to share it.")
		}
		if err := s.mayShare(ctx, tx, c, sess, dev); err != nil {
			return err
		}
		if req.Kind == store.ShareGuest {
			org, err := tx.Organization(ctx)
			if err != nil {
				return err
			}
			if !org.Settings.GuestLinks {
				return refuse(ErrGuestLinksOff, GuestLinksOffMessage)
			}
		}
		existing, err := tx.SharesOfSession(ctx, sess.ID)
		if err != nil {
			return err
		}
		live := 0
		for _, sh := range existing {
			if sh.Live(now) {
				live++
			}
		}
		if live >= MaxLiveShares {
			return refuse(ErrConflict, fmt.Sprintf("This console already has %d live share links, as many as it may; revoke one first.", MaxLiveShares))
		}
		token, hash := newToken()
		sh, err := tx.CreateShare(ctx, store.Share{SessionID: sess.ID, Kind: req.Kind, TokenHash: hash, CreatedBy: c.Principal,
			CreatedAt: now, ExpiresAt: expires})
		if err != nil {
			return err
		}
		details := map[string]string{"share": sh.ID, "kind": string(sh.Kind), "session": sess.ID, "by": c.Principal, "via": via(c)}
		if sh.ExpiresAt != nil {
			details["expires_at"] = sh.ExpiresAt.Format(time.RFC3339)
		}
		if _, err := tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: c.Principal, Action: store.AuditShareCreate,
			Target: "device:" + dev.ID, Details: details}); err != nil {
			return err
		}
		out = Created{View: s.view(ctx, tx, sh, dev, 0, now), Link: s.link(sh.Kind, token)}
		return nil
	})
	if err != nil {
		return Created{}, err
	}
	s.log.Info("console shared", "org", orgID, "sid", sessionID, "share", out.Share.ID, "kind", out.Share.Kind, "by", c.Principal)
	return out, nil
}

// expiry is when a share asked for by req expires: nil for a member share (it lasts as long
// as its session), now plus the duration for a guest link.
func (s *Service) expiry(req Request) (*time.Time, error) {
	switch req.Kind {
	case store.ShareMember:
		return nil, nil // a duration asked for is not a guest link's: ignored
	case store.ShareGuest:
	default:
		return nil, refuse(ErrBadRequest, `Choose the kind of link: "member" (a colleague who signs in) or "guest" (view only, no account).`)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultGuestTTL
	}
	if ttl < MinGuestTTL || ttl > MaxGuestTTL {
		return nil, refuse(ErrBadRequest, fmt.Sprintf("A guest link lasts from %d seconds (5 min) to %d seconds (24 h).",
			int(MinGuestTTL/time.Second), int(MaxGuestTTL/time.Second)))
	}
	at := s.now().Add(ttl)
	return &at, nil
}

// link is the URL that opens a share: the dashboard signs a member in first; the console
// asks a guest for a name. The token is in the fragment, which browsers never send.
func (s *Service) link(kind store.ShareKind, token string) string {
	if kind == store.ShareGuest {
		return s.cfg.PublicURL + "/console/#guest=" + token
	}
	return s.cfg.PublicURL + "/console/#share=" + token
}

// List returns the shares of session sessionID, newest first, revoked and expired ones
// included, for its own person or an admin.
func (s *Service) List(ctx context.Context, orgID string, c Caller, sessionID string) ([]View, error) {
	now := s.now()
	var out []View
	err := s.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		sess, dev, err := s.session(ctx, tx, c, sessionID)
		if err != nil {
			return err
		}
		all, err := tx.SharesOfSession(ctx, sess.ID)
		if err != nil {
			return err
		}
		out = make([]View, 0, len(all))
		for _, sh := range all {
			joined, err := tx.SessionsOfShare(ctx, sh.ID)
			if err != nil {
				return err
			}
			n := 0
			for _, j := range joined {
				if !j.Current.Final() {
					n++
				}
			}
			out = append(out, s.view(ctx, tx, sh, dev, n, now))
		}
		return nil
	})
	return out, err
}

// Revoke revokes share shareID of session sessionID (again: nothing changes) and cuts the
// consoles joined through it at once, on every relay node, each stopped with the reason.
// Audited as share_revoke, the first time.
func (s *Service) Revoke(ctx context.Context, orgID string, c Caller, sessionID, shareID string) error {
	if !store.ValidID(shareID) {
		return refuse(ErrNotFound, "This session has no such share link.")
	}
	now := s.now()
	var cut []string
	err := s.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		sess, dev, err := s.session(ctx, tx, c, sessionID)
		if err != nil {
			return err
		}
		sh, err := tx.Share(ctx, shareID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sh.SessionID != sess.ID) {
			return refuse(ErrNotFound, "This session has no such share link.")
		}
		if err != nil {
			return err
		}
		if sh.RevokedAt == nil {
			if _, err := tx.RevokeShare(ctx, sh.ID, now); err != nil {
				return err
			}
			if _, err := tx.AppendAudit(ctx, store.AuditRecord{Time: now, Actor: c.Principal, Action: store.AuditShareRevoke,
				Target: "device:" + dev.ID, Details: map[string]string{"share": sh.ID, "kind": string(sh.Kind), "session": sess.ID,
					"via": via(c)}}); err != nil {
				return err
			}
		}
		joined, err := tx.SessionsOfShare(ctx, sh.ID)
		for _, j := range joined {
			if !j.Current.Final() {
				cut = append(cut, j.ID)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for i, sid := range cut {
		if _, err := s.cfg.Sessions.Stop(ctx, orgID, sid, c.Principal, sessions.ReasonShareRevoked); err != nil {
			// The share is revoked: the viewers' next session check ends what is left.
			return fmt.Errorf("shares: cut viewer %d of %d of share %s: %w", i+1, len(cut), shareID, err)
		}
	}
	s.log.Info("share revoked", "org", orgID, "sid", sessionID, "share", shareID, "cut", len(cut), "by", c.Principal)
	return nil
}

// session reads the session a caller names, with its device, for its own person or an admin
// over its device. A console caller reaches its own session only; anything else is
// ErrNotFound, as for a session of another organization.
func (s *Service) session(ctx context.Context, tx store.Tx, c Caller, sessionID string) (store.ConsoleSession, store.Device, error) {
	notFound := refuse(ErrNotFound, "No such console session in your organization.")
	if !store.ValidID(sessionID) || (c.Console != "" && c.Console != sessionID) {
		return store.ConsoleSession{}, store.Device{}, notFound
	}
	sess, err := tx.Session(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return sess, store.Device{}, notFound
	}
	if err != nil {
		return sess, store.Device{}, err
	}
	dev, err := tx.Device(ctx, sess.DeviceID)
	if err != nil {
		return sess, dev, err
	}
	// Whoever is neither its person nor an admin over its device learns nothing more.
	return sess, dev, s.mayManage(c, sess, dev)
}

// mayManage: the session's person (whatever their console may do now: revoking takes
// access away) or an admin over its device.
func (s *Service) mayManage(c Caller, sess store.ConsoleSession, dev store.Device) error {
	if c.Admin != nil && c.Admin(dev) {
		return nil
	}
	if sess.Principal != c.Principal {
		return refuse(ErrForbidden, "Only the console's own person or an admin may manage its share links.")
	}
	return nil
}

// mayShare: an admin over the device, or the session's person whose console may hold
// control now — re-derived from the store, so a role lowered since the console opened, or a
// console that only watches, shares nothing.
func (s *Service) mayShare(ctx context.Context, tx store.Tx, c Caller, sess store.ConsoleSession, dev store.Device) error {
	if c.Admin != nil && c.Admin(dev) {
		return nil
	}
	if err := s.mayManage(c, sess, dev); err != nil {
		return err
	}
	var fallback wire.Grant
	if c.Fallback != nil {
		fallback = c.Fallback(dev)
	}
	grant, err := s.cfg.Sessions.GrantNow(ctx, tx, sess, fallback)
	if reason := sessions.EndReason(err); reason != "" {
		return refuse(ErrForbidden, "You may not share this console: "+reason+".")
	}
	if err != nil {
		return err
	}
	if grant != wire.GrantControl && grant != wire.GrantAdmin {
		return refuse(ErrForbidden, "This console only watches: sharing it needs a console that may take control (an operator's or an admin's).")
	}
	return nil
}

func (s *Service) view(ctx context.Context, tx store.Tx, sh store.Share, dev store.Device, joined int, now time.Time) View {
	return View{Share: sh, DeviceID: dev.ID, DeviceName: dev.Name, CreatedByName: sessions.NewNames(tx).Principal(ctx, sh.CreatedBy),
		Joined: joined, Live: sh.Live(now)}
}

// via says, for the audit, where the caller acted from.
func via(c Caller) string {
	if c.Console != "" {
		return "console"
	}
	return "api"
}
