package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Share links: a share of a live console session lets others watch it, each through a
// console session of their own on the same device (store.ConsoleSession.ShareID), whose
// grant is always view — a share never grants control, whatever the joiner's role. Such a
// session lasts while its share admits watchers (not revoked, not expired), the shared
// ("parent") session is live, and — for a member — the member may still sign in, or — for a
// guest — the organization still allows guest links. The rules are here, in one place, so
// that joining, every console check, Reauthorize and the reconciler decide alike; the
// control/shares service creates, lists and revokes shares.

// Reasons a session joined through a share ends, or a share refuses a joiner.
const (
	ReasonShareRevoked  = "the share link was revoked"
	ReasonGuestExpired  = "the guest link expired"
	ReasonShareExpired  = "the share link expired"
	ReasonSharedEnded   = "the shared session ended"
	ReasonGuestLinksOff = "guest links were turned off"
)

// GuestName is how the other participants, the API and the audit chain name a guest who
// joined under name.
func GuestName(name string) string { return name + " (guest)" }

// GuestPrincipal is the principal of the guests who join through share shareID.
func GuestPrincipal(shareID string) string { return accounts.KindGuest + ":" + shareID }

// ShareRefusal says why share sh admits no one at now (one of the Reason constants), or ""
// when it admits watchers.
func ShareRefusal(ctx context.Context, tx store.Tx, sh store.Share, now time.Time) (string, error) {
	switch {
	case sh.RevokedAt != nil:
		return ReasonShareRevoked, nil
	case !sh.Live(now) && sh.Kind == store.ShareGuest:
		return ReasonGuestExpired, nil
	case !sh.Live(now):
		return ReasonShareExpired, nil
	}
	parent, err := tx.Session(ctx, sh.SessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ReasonSharedEnded, nil
	case err != nil:
		return "", fmt.Errorf("sessions: shared session of share %s: %w", sh.ID, err)
	case parent.Current.Final() || parent.Desired == store.SessionStopped || !now.Before(parent.ExpiresAt):
		return ReasonSharedEnded, nil
	}
	if sh.Kind == store.ShareGuest {
		org, err := tx.Organization(ctx)
		if err != nil {
			return "", fmt.Errorf("sessions: guest links setting: %w", err)
		}
		if !org.Settings.GuestLinks {
			return ReasonGuestLinksOff, nil
		}
	}
	return "", nil
}

// joinedAllowed decides whether session s, joined through a share, may go on: its share
// admits watchers, and its principal is the share's guest, or a member who may still sign in
// (an OIDC member's rights are not stored: the share alone decides). A refusal is an
// *EndError (ErrNotAllowed) with the reason.
func joinedAllowed(ctx context.Context, tx store.Tx, s store.ConsoleSession, now time.Time) error {
	end := func(reason string) error { return &EndError{SID: s.ID, Reason: reason, kind: ErrNotAllowed} }
	sh, err := tx.Share(ctx, s.ShareID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return end(ReasonShareRevoked)
	case err != nil:
		return fmt.Errorf("sessions: share of session %s: %w", s.ID, err)
	}
	reason, err := ShareRefusal(ctx, tx, sh, now)
	switch {
	case err != nil:
		return err
	case reason != "":
		return end(reason)
	}
	kind, _, _ := strings.Cut(s.Principal, ":")
	switch {
	case sh.Kind == store.ShareGuest && s.Principal == GuestPrincipal(sh.ID):
		return nil
	case sh.Kind == store.ShareMember && (kind == accounts.KindUser || kind == accounts.KindOIDC):
		_, err := accounts.Current(ctx, tx, s.Principal)
		var re *accounts.RightError
		switch {
		case errors.As(err, &re):
			return end(re.Reason)
		case errors.Is(err, accounts.ErrNotStored):
			return nil
		}
		return err
	}
	return end(fmt.Sprintf("%q did not join through this share link", s.Principal))
}

// ShareRefusedError is a join a share refused: Reason is one of the Reason constants.
type ShareRefusedError struct {
	Share  store.Share
	Reason string
	// SharedBy names who created the share, for the sentence people read ("ask … for a new
	// link").
	SharedBy string
}

func (e *ShareRefusedError) Error() string { return "sessions: share " + e.Share.ID + ": " + e.Reason }

// Joining is someone joining a session through a share.
type Joining struct {
	ShareID string
	// Principal is the member ("user:<id>", "oidc:<subject>") or GuestPrincipal(ShareID).
	Principal string
	// DisplayName is a guest's cleaned name; empty for a member.
	DisplayName string
}

// Joined is a console session opened through a share, with what the joiner is shown.
type Joined struct {
	Session store.ConsoleSession
	Device  store.Device
	Share   store.Share
	// SharedBy names who created the share.
	SharedBy string
}

// JoinShare opens a console session through a share for j's principal, on the shared
// session's device, with grant view and the share recorded, and audits it (console_start and
// share_join, a guest under their name). A share that admits no one is a *ShareRefusedError;
// a share the organization does not have is store.ErrNotFound. The caller mints what opens
// the console: LoginLink (a member) or ConsoleToken (a guest).
func (m *Manager) JoinShare(ctx context.Context, orgID string, j Joining) (Joined, error) {
	now := m.now()
	var out Joined
	err := m.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		sh, err := tx.Share(ctx, j.ShareID)
		if err != nil {
			return err
		}
		names := NewNames(tx)
		out.Share, out.SharedBy = sh, names.Principal(ctx, sh.CreatedBy)
		reason, err := ShareRefusal(ctx, tx, sh, now)
		if err != nil {
			return err
		}
		if reason != "" {
			return &ShareRefusedError{Share: sh, Reason: reason, SharedBy: out.SharedBy}
		}
		parent, err := tx.Session(ctx, sh.SessionID)
		if err != nil {
			return err
		}
		dev, err := tx.Device(ctx, parent.DeviceID)
		if err != nil {
			return err
		}
		if dev.RevokedAt != nil {
			return &ShareRefusedError{Share: sh, Reason: ReasonSharedEnded, SharedBy: out.SharedBy}
		}
		if err := gatewayAllows(ctx, tx, dev); err != nil {
			return err
		}
		org, err := tx.Organization(ctx)
		if err != nil {
			return err
		}
		max := org.Settings.MaxSessionDuration
		if max <= 0 {
			max = 8 * time.Hour
		}
		s, err := tx.CreateSession(ctx, store.ConsoleSession{
			DeviceID: dev.ID, Principal: j.Principal, Grant: string(wire.GrantView), ShareID: sh.ID, DisplayName: j.DisplayName,
			Current: store.SessionRequested, Desired: store.SessionActive,
			CreatedAt: now, ExpiresAt: now.Add(max),
		})
		if err != nil {
			return err
		}
		out.Session, out.Device = s, dev
		var actorName string
		details := map[string]string{"session": s.ID, "share": sh.ID, "parent": parent.ID, "kind": string(sh.Kind), "grant": string(wire.GrantView)}
		if j.DisplayName != "" {
			actorName, details["name"] = GuestName(j.DisplayName), j.DisplayName
		}
		start := map[string]string{"session": s.ID, "device_name": dev.Name, "grant": string(wire.GrantView), "share": sh.ID}
		for _, rec := range []store.AuditRecord{
			{Action: store.AuditConsoleStart, Details: start},
			{Action: store.AuditShareJoin, Details: details},
		} {
			rec.Time, rec.Actor, rec.ActorName, rec.Target = now, j.Principal, actorName, "device:"+dev.ID
			if _, err := tx.AppendAudit(ctx, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Joined{}, err
	}
	return out, nil
}

// LoginLink mints the one-time console URL of a joined session (grant view), as Start's.
func (m *Manager) LoginLink(j Joined) (Started, error) {
	return m.link(j.Session, j.Device, wire.GrantView)
}

// ConsoleToken mints the console token of a joined session (grant view) directly, for a
// guest: the token a redeemed console link would give, so the console runs it the same way.
func (m *Manager) ConsoleToken(j Joined) (string, time.Time, error) {
	tok, claims, err := m.cfg.Issuer.Mint(m.claims(j.Session, j.Device, auth.AudienceConsole, wire.GrantView), m.cfg.ConsoleTokenTTL)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mint console token: %w", err)
	}
	return tok, claims.ExpiresAt, nil
}

// GrantNow re-derives, inside tx, what session s's console may do on its device now: view
// for a session joined through a share, else its principal's role on the device; for
// principals whose rights are not stored, fallback (what their token or bearer carries). A
// right removed is an *EndError; an ended session ErrEnded.
func (m *Manager) GrantNow(ctx context.Context, tx store.Tx, s store.ConsoleSession, fallback wire.Grant) (wire.Grant, error) {
	now := m.now()
	if s.Current.Final() || s.Desired == store.SessionStopped || !now.Before(s.ExpiresAt) {
		return "", &EndError{SID: s.ID, Reason: s.Reason, kind: ErrEnded}
	}
	dev, err := tx.Device(ctx, s.DeviceID)
	if err != nil {
		return "", err
	}
	if dev.RevokedAt != nil {
		return "", fmt.Errorf("session %s: %w", s.ID, ErrDeviceRevoked)
	}
	grant, err := allowed(ctx, tx, s, dev, now)
	if err != nil {
		return "", err
	}
	if grant == "" {
		grant = fallback
	}
	return grant, nil
}

// ConsoleCaller verifies a console token (audience console) of a control-plane session and
// returns its claims and the grant its session's principal holds now, for routes a console
// calls with its token (its shares). A principal found to have lost its right has its session
// stopped, as at every check.
func (m *Manager) ConsoleCaller(ctx context.Context, token string) (auth.Claims, wire.Grant, error) {
	c, err := m.cfg.Issuer.Verify(token, auth.AudienceConsole)
	if err != nil {
		return auth.Claims{}, "", fmt.Errorf("sessions: console token: %w", err)
	}
	if c.Tenant == "" || !store.ValidID(c.Tenant) {
		return auth.Claims{}, "", fmt.Errorf("sessions: console token without a control-plane session: %w", ErrMismatch)
	}
	var grant wire.Grant
	err = m.enforce(ctx, c, m.cfg.Store.Read(ctx, c.Tenant, func(tx store.Tx) error {
		var err error
		_, grant, err = m.checkClaims(ctx, tx, c)
		return err
	}))
	return c, grant, err
}
