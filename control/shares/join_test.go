package shares

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestMemberJoin: any member of the organization, whatever the role (an auditor's too) and
// whatever their own device scope, joins through a member link with a console of their own
// that only watches — an admin too; anyone else learns nothing (404).
func TestMemberJoin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.setGuestLinks(t, true)
	s := f.start(t, f.operator)
	member, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
	require.NoError(t, err)
	guest, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareGuest})
	require.NoError(t, err)
	outOfScope := f.newUser(t, f.org.ID, "scoped@acme.example", store.RoleOperator, map[string]string{"site": "elsewhere"})
	other := f.newOrg(t, "globex")
	stranger := f.newUser(t, other.ID, "owner@globex.example", store.RoleOwner, nil)
	key := accounts.Principal{OrgID: f.org.ID, Kind: accounts.KindAPIKey, ID: store.NewID(), Role: store.RoleAdmin}

	cases := []struct {
		name  string
		who   accounts.Principal
		token string
		want  error
	}{
		{"auditor", f.auditor, tokenOf(t, member.Link), nil},
		{"viewer", f.viewer, tokenOf(t, member.Link), nil},
		{"owner gets view, not admin", f.owner, tokenOf(t, member.Link), nil},
		{"member outside the device's scope", outOfScope, tokenOf(t, member.Link), nil},
		{"the sharer themself", f.operator, tokenOf(t, member.Link), nil},
		{"member of another organization", stranger, tokenOf(t, member.Link), ErrNotFound},
		{"API key", key, tokenOf(t, member.Link), ErrForbidden},
		{"a guest link", f.viewer, tokenOf(t, guest.Link), ErrNotFound},
		{"garbage", f.viewer, "kvms_nope", ErrNotFound},
		{"unknown", f.viewer, "kvms_" + strings.Repeat("A", 43), ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			joined, err := f.svc.JoinMember(ctx, tc.who, tc.token)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, wire.GrantView, joined.Grant)
			assert.Equal(t, f.device.ID, joined.Device)
			assert.Equal(t, "rack-1", joined.DeviceName)
			assert.Equal(t, "op@acme.example", joined.SharedBy)
			assert.NotEqual(t, s.ID, joined.Session, "a console of their own")
			claims := f.loginClaims(t, joined.ConsoleURL)
			assert.Equal(t, tc.who.String(), claims.Subject)
			assert.Equal(t, wire.GrantView, claims.Grant)
			assert.Equal(t, joined.Session, claims.Session)
			got := f.session(t, joined.Session)
			assert.Equal(t, member.Share.ID, got.ShareID)
			assert.Equal(t, "view", got.Grant)
			// Connecting re-derives the grant: still view, whatever the role.
			grant, err := f.m.Admit(ctx, claims)
			require.NoError(t, err)
			assert.Equal(t, wire.GrantView, grant)
			grant, err = f.m.Check(ctx, claims)
			require.NoError(t, err)
			assert.Equal(t, wire.GrantView, grant)
		})
	}

	joins := f.audits(t, f.org.ID, store.AuditShareJoin)
	require.Len(t, joins, 5)
	assert.Equal(t, f.auditor.String(), joins[0].Actor)
	assert.Equal(t, "audrey@acme.example", joins[0].ActorName)
	assert.Equal(t, member.Share.ID, joins[0].Details["share"])
	assert.Equal(t, s.ID, joins[0].Details["parent"])
	assert.NotEmpty(t, joins[0].Details["session"])
	assert.Empty(t, f.audits(t, other.ID, store.AuditShareJoin), "nothing reached the other organization")

	// The share's list counts the live viewers.
	list, err := f.svc.List(ctx, f.org.ID, caller(f.operator), s.ID)
	require.NoError(t, err)
	require.Len(t, list, 2)
	// Both shares may carry the same creation time: find each by id, not by position.
	joined := map[string]int{}
	for _, l := range list {
		joined[l.Share.ID] = l.Joined
	}
	require.Contains(t, joined, member.Share.ID)
	assert.Equal(t, 5, joined[member.Share.ID])
	for id, n := range joined {
		if id != member.Share.ID {
			assert.Equal(t, 0, n, "the other share has no viewers")
		}
	}
}

// TestGuestJoin: a guest gives a name (cleaned; control and format characters refused),
// gets a console token that only watches, under the share's guest principal, and is named
// "<name> (guest)" to the others and in the audit chain.
func TestGuestJoin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.setGuestLinks(t, true)
	s := f.start(t, f.operator)
	guest, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareGuest})
	require.NoError(t, err)
	member, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
	require.NoError(t, err)

	cases := []struct {
		name, given, want string
		token             string
		err               error
	}{
		{"plain", "Jane", "Jane", "", nil},
		{"trimmed", "  Jane Doe \t", "Jane Doe", "", nil},
		{"64 characters", strings.Repeat("é", 64), strings.Repeat("é", 64), "", nil},
		{"65 characters", strings.Repeat("x", 65), "", "", ErrBadRequest},
		{"empty", "   ", "", "", ErrBadRequest},
		{"escape", "Ja\x1b[2Jne", "", "", ErrBadRequest},
		{"newline", "Jane\nAdmin", "", "", ErrBadRequest},
		{"bidi override", "\u202eenaJ", "", "", ErrBadRequest},
		{"invalid UTF-8", "Ja\xffne", "", "", ErrBadRequest},
		{"a member link", "Jane", "", tokenOf(t, member.Link), ErrNotFound},
		{"unknown token", "Jane", "", "kvms_" + strings.Repeat("B", 43), ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token
			if token == "" {
				token = tokenOf(t, guest.Link)
			}
			joined, err := f.svc.JoinGuest(ctx, token, tc.given)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			claims, err := f.iss.Verify(joined.Token, auth.AudienceConsole)
			require.NoError(t, err, "a console token, as a redeemed link gives")
			assert.Equal(t, "guest:"+guest.Share.ID, claims.Subject)
			assert.Equal(t, wire.GrantView, claims.Grant)
			assert.Equal(t, f.org.ID, claims.Tenant)
			assert.Equal(t, joined.Session, claims.Session)
			assert.Equal(t, f.device.ID, claims.Device)
			assert.Equal(t, claims.ExpiresAt, joined.ExpiresAt)
			assert.Equal(t, tc.want+" (guest)", joined.PrincipalName)
			assert.Equal(t, "op@acme.example", joined.SharedBy)
			assert.Equal(t, wire.GrantView, joined.Grant)
			got := f.session(t, joined.Session)
			assert.Equal(t, tc.want, got.DisplayName)
			grant, err := f.m.Admit(ctx, claims)
			require.NoError(t, err)
			assert.Equal(t, wire.GrantView, grant)
			name, err := f.m.ParticipantName(ctx, f.org.ID, joined.Session, claims.Subject)
			require.NoError(t, err)
			assert.Equal(t, tc.want+" (guest)", name, "the others see the guest's own name")
		})
	}
	joins := f.audits(t, f.org.ID, store.AuditShareJoin)
	require.Len(t, joins, 3)
	assert.Equal(t, "guest:"+guest.Share.ID, joins[0].Actor)
	assert.Equal(t, "Jane (guest)", joins[0].ActorName)
	assert.Equal(t, "Jane", joins[0].Details["name"])
	assert.Equal(t, "guest", joins[0].Details["kind"])

	// What a guest's console does is attributed to the share's guest principal, named.
	gs := joins[0].Details["session"]
	require.NoError(t, f.m.InputSent(ctx, f.org.ID, sessions.InputBurst{Session: gs, From: f.clk.Now(), To: f.clk.Now(), Keys: 3}))
	require.NoError(t, f.m.ControlMoved(ctx, f.org.ID, sessions.ControlMove{Subject: gs, Kind: wire.EventRequested}))
	require.NoError(t, f.m.ControlMoved(ctx, f.org.ID, sessions.ControlMove{Subject: s.ID, Kind: wire.EventDeclined, By: gs}))
	inputs := f.audits(t, f.org.ID, store.AuditConsoleInput)
	require.Len(t, inputs, 1)
	assert.Equal(t, "guest:"+guest.Share.ID, inputs[0].Actor)
	assert.Equal(t, "Jane (guest)", inputs[0].ActorName)
	assert.Equal(t, "Jane", inputs[0].Details["name"])
	moves := f.audits(t, f.org.ID, store.AuditConsoleControl)
	require.Len(t, moves, 2)
	assert.Equal(t, "Jane (guest)", moves[0].ActorName)
	assert.Equal(t, "Jane", moves[0].Details["subject_name"])
	assert.Equal(t, "guest:"+guest.Share.ID, moves[1].Actor)
	assert.Equal(t, "Jane", moves[1].Details["by_name"])
	assert.Empty(t, moves[1].Details["subject_name"], "a member's name is the store's, not a detail")
}

// TestRevokeCutsViewers: revoking a share stops the consoles joined through it at once, with
// the reason, and no other; the link then answers gone; revoking again changes nothing; a
// console of another session cannot revoke this session's share.
func TestRevokeCutsViewers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.setGuestLinks(t, true)
	s := f.start(t, f.operator)
	other := f.start(t, f.owner)
	member, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
	require.NoError(t, err)
	guest, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareGuest})
	require.NoError(t, err)
	m1, err := f.svc.JoinMember(ctx, f.viewer, tokenOf(t, member.Link))
	require.NoError(t, err)
	g1, err := f.svc.JoinGuest(ctx, tokenOf(t, guest.Link), "Jane")
	require.NoError(t, err)

	// Neither another session's console nor a stranger revokes it.
	err = f.svc.Revoke(ctx, f.org.ID, Caller{Principal: f.owner.String(), Console: other.ID}, s.ID, member.Share.ID)
	require.ErrorIs(t, err, ErrNotFound)
	err = f.svc.Revoke(ctx, f.org.ID, Caller{Principal: f.owner.String(), Console: other.ID}, other.ID, member.Share.ID)
	require.ErrorIs(t, err, ErrNotFound, "a share of another session is not this session's")
	err = f.svc.Revoke(ctx, f.org.ID, caller(f.viewer), s.ID, member.Share.ID)
	require.ErrorIs(t, err, ErrForbidden)
	assert.Equal(t, store.SessionRequested, f.session(t, m1.Session).Current)

	require.NoError(t, f.svc.Revoke(ctx, f.org.ID, Caller{Principal: f.operator.String(), Console: s.ID}, s.ID, member.Share.ID))
	got := f.session(t, m1.Session)
	assert.Equal(t, store.SessionStopped, got.Current)
	assert.Equal(t, sessions.ReasonShareRevoked, got.Reason)
	assert.Equal(t, sessions.ReasonShareRevoked, f.cut.reason(m1.Session), "the console is cut at once")
	assert.Equal(t, store.SessionRequested, f.session(t, g1.Session).Current, "another share's guest stays")
	assert.Equal(t, store.SessionActive, f.session(t, s.ID).Current, "the shared console stays")

	_, err = f.svc.JoinMember(ctx, f.auditor, tokenOf(t, member.Link))
	require.ErrorIs(t, err, ErrGone)
	assert.Contains(t, err.Error(), "revoked")
	assert.Contains(t, err.Error(), "Ask op@acme.example for a new link")

	require.NoError(t, f.svc.Revoke(ctx, f.org.ID, caller(f.owner), s.ID, member.Share.ID), "again: nothing changes")
	revokes := f.audits(t, f.org.ID, store.AuditShareRevoke)
	require.Len(t, revokes, 1)
	assert.Equal(t, f.operator.String(), revokes[0].Actor)
	assert.Equal(t, "console", revokes[0].Details["via"])
	assert.Equal(t, member.Share.ID, revokes[0].Details["share"])

	// An admin revokes the guest link from the API: the guest is cut.
	require.NoError(t, f.svc.Revoke(ctx, f.org.ID, caller(f.owner), s.ID, guest.Share.ID))
	assert.Equal(t, sessions.ReasonShareRevoked, f.session(t, g1.Session).Reason)
	list, err := f.svc.List(ctx, f.org.ID, caller(f.operator), s.ID)
	require.NoError(t, err)
	for _, v := range list {
		assert.False(t, v.Live)
		assert.NotNil(t, v.Share.RevokedAt)
		assert.Zero(t, v.Joined)
	}
}

// TestSharedConsoleLifetime: consoles joined through a share end when the guest link
// expires, when the shared console ends, when guest links are turned off, and when a
// member's account is disabled — through the reconciler or the re-authorization that follows
// a change of rights — each with its reason; the link then admits no one.
func TestSharedConsoleLifetime(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		kind   store.ShareKind
		ttl    time.Duration
		end    func(t *testing.T, f *fixture, parent store.ConsoleSession, joiner accounts.Principal)
		reason string
		want   error // joining afterwards
	}{
		{"guest link expires", store.ShareGuest, 5 * time.Minute, func(t *testing.T, f *fixture, _ store.ConsoleSession, _ accounts.Principal) {
			f.clk.Add(5 * time.Minute)
			require.NoError(t, f.m.Reconcile(ctx, f.org.ID))
		}, sessions.ReasonGuestExpired, ErrGone},
		{"shared console stopped", store.ShareMember, 0, func(t *testing.T, f *fixture, parent store.ConsoleSession, _ accounts.Principal) {
			_, err := f.m.Stop(ctx, f.org.ID, parent.ID, f.operator.String(), sessions.ReasonClosedByUser)
			require.NoError(t, err)
			require.NoError(t, f.m.Reconcile(ctx, f.org.ID))
		}, sessions.ReasonSharedEnded, ErrGone},
		{"shared guest console stopped", store.ShareGuest, 0, func(t *testing.T, f *fixture, parent store.ConsoleSession, _ accounts.Principal) {
			_, err := f.m.Stop(ctx, f.org.ID, parent.ID, f.operator.String(), sessions.ReasonClosedByUser)
			require.NoError(t, err)
			require.NoError(t, f.m.Reconcile(ctx, f.org.ID))
		}, sessions.ReasonSharedEnded, ErrGone},
		{"guest links turned off", store.ShareGuest, 0, func(t *testing.T, f *fixture, _ store.ConsoleSession, _ accounts.Principal) {
			f.setGuestLinks(t, false)
			n, err := f.m.Reauthorize(ctx, f.org.ID, f.owner.String())
			require.NoError(t, err)
			assert.Equal(t, 1, n)
		}, sessions.ReasonGuestLinksOff, ErrGuestLinksOff},
		{"member disabled", store.ShareMember, 0, func(t *testing.T, f *fixture, _ store.ConsoleSession, joiner accounts.Principal) {
			require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
				u, err := tx.User(ctx, joiner.ID)
				if err != nil {
					return err
				}
				u.Disabled = true
				return tx.UpdateUser(ctx, u)
			}))
			n, err := f.m.Reauthorize(ctx, f.org.ID, f.owner.String())
			require.NoError(t, err)
			assert.Equal(t, 1, n)
		}, "the account that opened this console was disabled", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.setGuestLinks(t, true)
			parent := f.start(t, f.operator)
			created, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), parent.ID, Request{Kind: tc.kind, TTL: tc.ttl})
			require.NoError(t, err)
			token := tokenOf(t, created.Link)
			var sid string
			var claims auth.Claims
			if tc.kind == store.ShareGuest {
				j, err := f.svc.JoinGuest(ctx, token, "Jane")
				require.NoError(t, err)
				sid = j.Session
				claims, err = f.iss.Verify(j.Token, auth.AudienceConsole)
				require.NoError(t, err)
			} else {
				j, err := f.svc.JoinMember(ctx, f.viewer, token)
				require.NoError(t, err)
				sid = j.Session
				claims = f.loginClaims(t, j.ConsoleURL)
			}
			_, err = f.m.Admit(ctx, claims)
			require.NoError(t, err)
			require.NoError(t, f.m.Reconcile(ctx, f.org.ID))
			require.Equal(t, store.SessionActive, f.session(t, sid).Current, "live while its share is")

			tc.end(t, f, parent, f.viewer)
			got := f.session(t, sid)
			assert.Equal(t, store.SessionStopped, got.Current)
			assert.Equal(t, tc.reason, got.Reason)
			assert.Equal(t, tc.reason, f.cut.reason(sid), "its console is cut")
			_, err = f.m.Check(ctx, claims)
			assert.ErrorIs(t, err, sessions.ErrEnded)

			if tc.want == nil {
				return
			}
			if tc.kind == store.ShareGuest {
				_, err = f.svc.JoinGuest(ctx, token, "Joe")
			} else {
				_, err = f.svc.JoinMember(ctx, f.auditor, token)
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// TestCheckEndsSharedConsole: the periodic check of a connected console ends it as soon as
// its share admits no one, without waiting for the reconciler.
func TestCheckEndsSharedConsole(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.setGuestLinks(t, true)
	parent := f.start(t, f.operator)
	created, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), parent.ID, Request{Kind: store.ShareGuest, TTL: 10 * time.Minute})
	require.NoError(t, err)
	j, err := f.svc.JoinGuest(ctx, tokenOf(t, created.Link), "Jane")
	require.NoError(t, err)
	claims, err := f.iss.Verify(j.Token, auth.AudienceConsole)
	require.NoError(t, err)
	_, err = f.m.Admit(ctx, claims)
	require.NoError(t, err)
	f.clk.Add(10 * time.Minute)
	_, err = f.m.Check(ctx, claims)
	require.ErrorIs(t, err, sessions.ErrNotAllowed)
	assert.Equal(t, sessions.ReasonGuestExpired, sessions.EndReason(err))
	assert.Equal(t, store.SessionStopped, f.session(t, j.Session).Current, "stopped, with the reason, for every node")
	assert.Equal(t, sessions.ReasonGuestExpired, f.session(t, j.Session).Reason)
}
