package shares

import (
	"context"
	"errors"
	"time"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// MemberJoined is a member's console opened through a share link.
type MemberJoined struct {
	// ConsoleURL is a one-time console link, as Start's.
	ConsoleURL string
	Session    string
	Device     string
	DeviceName string
	SharedBy   string
	Grant      wire.Grant // always view
}

// GuestJoined is a guest's console opened through a guest link: a console token, as a
// redeemed console link gives.
type GuestJoined struct {
	Token      string
	ExpiresAt  time.Time
	Session    string
	Device     string
	DeviceName string
	// PrincipalName is how the others see the guest: "<name> (guest)".
	PrincipalName string
	SharedBy      string
	Grant         wire.Grant // always view
}

// Refusals of a token that opens nothing here. A member's token of another organization is
// "unknown" too: the caller's organization is the only one looked in.
const (
	msgUnknownLink = "This share link is unknown here: check that it was copied whole, and that you are signed in to the organization that shared it."
	msgGuestLink   = "This is a guest link: open it in a browser, where it asks for your name, to watch as a guest."
	msgMemberLink  = "This link is for members of the organization that shared it: open it in a browser and sign in to watch."
	msgAccountOnly = "Share links open consoles for people: sign in with your account (an API key cannot join)."
)

// JoinMember opens a console for member p through the member share whose token is token:
// any enabled member of the share's organization (any role, an auditor's too) gets a console
// session of their own with grant view, whatever their own rights on the device. A token of
// another organization, or none, is ErrNotFound; a share that admits no one ErrGone.
func (s *Service) JoinMember(ctx context.Context, p accounts.Principal, token string) (MemberJoined, error) {
	if p.Kind != accounts.KindUser && p.Kind != accounts.KindOIDC {
		return MemberJoined{}, refuse(ErrForbidden, msgAccountOnly)
	}
	hash, ok := parseToken(token)
	if !ok {
		return MemberJoined{}, refuse(ErrNotFound, msgUnknownLink)
	}
	sh, err := s.shareByHash(ctx, p.OrgID, hash)
	if err != nil {
		return MemberJoined{}, err
	}
	if sh.Kind != store.ShareMember {
		return MemberJoined{}, refuse(ErrNotFound, msgGuestLink)
	}
	joined, err := s.join(ctx, p.OrgID, sessions.Joining{ShareID: sh.ID, Principal: p.String()})
	if err != nil {
		return MemberJoined{}, err
	}
	started, err := s.cfg.Sessions.LoginLink(joined)
	if err != nil {
		return MemberJoined{}, err
	}
	s.log.Info("member joined a shared console", "org", p.OrgID, "share", sh.ID, "sid", joined.Session.ID, "principal", p.String())
	return MemberJoined{ConsoleURL: started.ConsoleURL, Session: joined.Session.ID, Device: joined.Device.ID,
		DeviceName: joined.Device.Name, SharedBy: joined.SharedBy, Grant: wire.GrantView}, nil
}

// JoinGuest opens a console for a guest, under name, through the guest link whose token is
// token. The name is cleaned (CleanGuestName); the guest's principal is the share's,
// sessions.GuestPrincipal. ErrNotFound for an unknown token, ErrGuestLinksOff when the
// organization turned guest links off, ErrGone when the link admits no one.
func (s *Service) JoinGuest(ctx context.Context, token, name string) (GuestJoined, error) {
	name, err := CleanGuestName(name)
	if err != nil {
		return GuestJoined{}, err
	}
	hash, ok := parseToken(token)
	if !ok {
		return GuestJoined{}, refuse(ErrNotFound, msgUnknownLink)
	}
	orgID, err := s.cfg.Store.Lookup(ctx, store.LookupShare, hash)
	if errors.Is(err, store.ErrNotFound) {
		return GuestJoined{}, refuse(ErrNotFound, msgUnknownLink)
	}
	if err != nil {
		return GuestJoined{}, err
	}
	sh, err := s.shareByHash(ctx, orgID, hash)
	if err != nil {
		return GuestJoined{}, err
	}
	if sh.Kind != store.ShareGuest {
		return GuestJoined{}, refuse(ErrNotFound, msgMemberLink)
	}
	joined, err := s.join(ctx, orgID, sessions.Joining{ShareID: sh.ID, Principal: sessions.GuestPrincipal(sh.ID), DisplayName: name})
	if err != nil {
		return GuestJoined{}, err
	}
	tok, expires, err := s.cfg.Sessions.ConsoleToken(joined)
	if err != nil {
		return GuestJoined{}, err
	}
	s.log.Info("guest joined a shared console", "org", orgID, "share", sh.ID, "sid", joined.Session.ID)
	return GuestJoined{Token: tok, ExpiresAt: expires, Session: joined.Session.ID, Device: joined.Device.ID, DeviceName: joined.Device.Name,
		PrincipalName: sessions.GuestName(name), SharedBy: joined.SharedBy, Grant: wire.GrantView}, nil
}

func (s *Service) shareByHash(ctx context.Context, orgID, hash string) (store.Share, error) {
	var sh store.Share
	err := s.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		sh, err = tx.ShareByTokenHash(ctx, hash)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return sh, refuse(ErrNotFound, msgUnknownLink)
	}
	return sh, err
}

// join opens the session through the sessions manager and words its refusals.
func (s *Service) join(ctx context.Context, orgID string, j sessions.Joining) (sessions.Joined, error) {
	joined, err := s.cfg.Sessions.JoinShare(ctx, orgID, j)
	var refused *sessions.ShareRefusedError
	switch {
	case errors.As(err, &refused) && refused.Reason == sessions.ReasonGuestLinksOff:
		return joined, refuse(ErrGuestLinksOff, "Guest links are turned off for this organization, so this link no longer works. Ask "+
			refused.SharedBy+" to share the console with you another way.")
	case errors.As(err, &refused):
		return joined, refuse(ErrGone, "This share link no longer works: "+refused.Reason+". Ask "+refused.SharedBy+" for a new link.")
	case errors.Is(err, store.ErrNotFound):
		return joined, refuse(ErrNotFound, msgUnknownLink)
	}
	return joined, err
}
