package accounts

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func TestAPIKeys(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	admin := e.addUser(t, org.ID, "admin@acme.test", "admin password", store.RoleAdmin, nil)
	labAdmin := e.addUser(t, org.ID, "lab@acme.test", "lab admin password", store.RoleAdmin, map[string]string{"site": "lab"})
	operator := e.addUser(t, org.ID, "op@acme.test", "operator password", store.RoleOperator, nil)
	lab := map[string]string{"site": "lab"}

	for _, tc := range []struct {
		name  string
		p     Principal
		role  store.Role
		scope map[string]string
		err   error
	}{
		{"operator may not manage keys", operator, store.RoleViewer, nil, ErrForbidden},
		{"admin may not mint an owner key", admin, store.RoleOwner, nil, ErrForbidden},
		{"scoped admin may not mint an unscoped key", labAdmin, store.RoleViewer, nil, ErrForbidden},
		{"scoped admin may not mint another scope", labAdmin, store.RoleViewer, map[string]string{"site": "prod"}, ErrForbidden},
		{"unknown role", owner, "root", nil, ErrInvalid},
		{"empty role", owner, "", nil, ErrInvalid},
		{"scoped admin, narrower scope", labAdmin, store.RoleOperator, map[string]string{"site": "lab", "rack": "1"}, nil},
		{"admin, auditor key", admin, store.RoleAuditor, nil, nil},
		{"owner, owner key", owner, store.RoleOwner, lab, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, k, err := e.svc.CreateAPIKey(ctx, tc.p, "ci "+tc.name, tc.role, tc.scope)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Empty(t, plain)
				return
			}
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(plain, "kvmk_"+k.Prefix+"_"))
			assert.NotContains(t, k.Hash, plain)
			p, err := e.svc.Authenticate(ctx, plain)
			require.NoError(t, err)
			assert.Equal(t, Principal{OrgID: org.ID, Kind: KindAPIKey, ID: k.ID, Role: tc.role, Scope: nonEmpty(tc.scope)}, p)
			assert.Equal(t, "apikey:"+k.ID, p.String())
		})
	}

	_, _, err := e.svc.CreateAPIKey(ctx, owner, "", store.RoleViewer, nil)
	assert.ErrorIs(t, err, ErrInvalid, "a name is required")
	_, _, err = e.svc.CreateAPIKey(ctx, owner, "bad\nname", store.RoleViewer, nil)
	assert.ErrorIs(t, err, ErrInvalid)

	plain, k, err := e.svc.CreateAPIKey(ctx, admin, "deploy", store.RoleOperator, nil)
	require.NoError(t, err)
	prefix := "kvmk_" + k.Prefix + "_"
	wrongSecret := prefix + strings.Repeat("A", 43)
	for _, bad := range []string{wrongSecret, "kvmk_0000000000000000_" + plain[len(prefix):], plain[:len(plain)-1]} {
		_, err := e.svc.Authenticate(ctx, bad)
		assert.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}

	require.ErrorIs(t, e.svc.RevokeAPIKey(ctx, operator, k.ID), ErrForbidden)
	require.ErrorIs(t, e.svc.RevokeAPIKey(ctx, labAdmin, k.ID), ErrForbidden, "an unscoped key is beyond a scoped admin")
	require.ErrorIs(t, e.svc.RevokeAPIKey(ctx, admin, store.NewID()), ErrNotFound)
	require.ErrorIs(t, e.svc.RevokeAPIKey(ctx, admin, "nope"), ErrNotFound)
	require.NoError(t, e.svc.RevokeAPIKey(ctx, admin, k.ID))
	_, err = e.svc.Authenticate(ctx, plain)
	assert.ErrorIs(t, err, ErrInvalidToken, "revoked at once")
	require.NoError(t, e.svc.RevokeAPIKey(ctx, admin, k.ID), "revoking twice is fine")

	recs := e.audits(t, org.ID)
	created := auditsOf(recs, store.AuditAPIKeyCreate)
	require.Len(t, created, 4)
	last := created[3]
	assert.Equal(t, admin.String(), last.Actor)
	assert.Equal(t, "apikey:"+k.ID, last.Target)
	assert.Equal(t, map[string]string{"name": "deploy", "role": "operator", "prefix": k.Prefix, "scope": ""}, last.Details)
	secret := plain[len(prefix):]
	for _, r := range created {
		for _, v := range r.Details {
			assert.NotContains(t, v, secret, "no secret in the audit")
		}
	}
	revoked := auditsOf(recs, store.AuditAPIKeyRevoke)
	require.Len(t, revoked, 1, "one audit entry for two revocations")
	assert.Equal(t, "apikey:"+k.ID, revoked[0].Target)
}

// fakeMailer records what it sends.
type fakeMailer struct {
	mu   sync.Mutex
	sent []struct{ to, subject, body string }
	err  error
}

func (m *fakeMailer) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, struct{ to, subject, body string }{to, subject, body})
	return m.err
}

func inviteToken(t *testing.T, link string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(link, "https://relay.test/console/#invite=")
	require.True(t, ok, "link %q", link)
	return tok
}

func TestInvitations(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	admin := e.addUser(t, org.ID, "admin@acme.test", "admin password", store.RoleAdmin, nil)
	viewer := e.addUser(t, org.ID, "viewer@acme.test", "viewer password", store.RoleViewer, nil)

	for _, tc := range []struct {
		name  string
		p     Principal
		email string
		role  store.Role
		err   error
	}{
		{"viewer may not invite", viewer, "x@acme.test", store.RoleViewer, ErrForbidden},
		{"admin may not invite an owner", admin, "x@acme.test", store.RoleOwner, ErrForbidden},
		{"bad email", admin, "x at acme", store.RoleViewer, ErrInvalid},
		{"existing user", admin, " Viewer@ACME.test", store.RoleViewer, ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.Invite(ctx, tc.p, tc.email, tc.role, nil)
			assert.ErrorIs(t, err, tc.err)
		})
	}

	link, inv, err := e.svc.Invite(ctx, admin, " Carol@Acme.TEST ", store.RoleOperator, map[string]string{"site": "lab"})
	require.NoError(t, err)
	assert.Equal(t, "carol@acme.test", inv.Email)
	assert.Equal(t, e.clock.Now().Add(7*24*time.Hour), inv.ExpiresAt)
	assert.Equal(t, admin.String(), inv.InvitedBy)
	tok := inviteToken(t, link)
	assert.NotEqual(t, tok, inv.TokenHash)
	assert.NotContains(t, inv.TokenHash, tok)

	_, err = e.svc.AcceptInvite(ctx, tok, "short", "192.0.2.7")
	require.ErrorIs(t, err, ErrInvalid, "the password rules apply")
	u, err := e.svc.AcceptInvite(ctx, tok, "carols password", "192.0.2.7")
	require.NoError(t, err)
	assert.Equal(t, "carol@acme.test", u.Email)
	assert.Equal(t, store.RoleOperator, u.Role)
	assert.Equal(t, map[string]string{"site": "lab"}, u.Scope)
	_, err = e.svc.AcceptInvite(ctx, tok, "carols password", "192.0.2.7")
	require.ErrorIs(t, err, ErrInvalidToken, "single use")

	tokens, err := login(e, "carol@acme.test", "carols password")
	require.NoError(t, err)
	p, err := e.svc.Authenticate(ctx, tokens.Access)
	require.NoError(t, err)
	assert.True(t, p.SeesDevice(map[string]string{"site": "lab"}))
	assert.False(t, p.SeesDevice(map[string]string{"site": "prod"}))

	t.Run("expired", func(t *testing.T) {
		link, _, err := e.svc.Invite(ctx, owner, "dave@acme.test", store.RoleViewer, nil)
		require.NoError(t, err)
		e.clock.Add(7*24*time.Hour + time.Second)
		_, err = e.svc.AcceptInvite(ctx, inviteToken(t, link), "daves password", "192.0.2.7")
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
	t.Run("unknown or malformed", func(t *testing.T) {
		for _, bad := range []string{"", "kvmi_" + strings.Repeat("A", 43), "kvmi_x", tok + "A"} {
			_, err := e.svc.AcceptInvite(ctx, bad, "some password here", "192.0.2.7")
			assert.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
		}
	})

	var events []string
	for _, r := range auditsOf(e.audits(t, org.ID), store.AuditInvite) {
		events = append(events, r.Details["event"]+":"+r.Details["email"])
	}
	assert.Equal(t, []string{"invited:carol@acme.test", "invited:dave@acme.test"}, events)
	// Accepting is its own action, by the invitee, naming the invitation and who issued it.
	accepted := auditsOf(e.audits(t, org.ID), store.AuditInviteAccept)
	require.Len(t, accepted, 1)
	assert.Equal(t, "user:"+u.ID, accepted[0].Actor)
	assert.Equal(t, "carol@acme.test", accepted[0].ActorName)
	assert.Equal(t, "invitation:"+inv.ID, accepted[0].Target)
	assert.Equal(t, map[string]string{"email": "carol@acme.test", "role": "operator", "scope": "site=lab", "invited_by": admin.String()}, accepted[0].Details)
}

func TestInviteByMail(t *testing.T) {
	mailer := &fakeMailer{}
	e := newEnv(t, func(c *Config) { c.Mailer = mailer })
	ctx := context.Background()
	_, owner := e.owner(t)
	link, _, err := e.svc.Invite(ctx, owner, "erin@acme.test", store.RoleViewer, nil)
	require.NoError(t, err)
	assert.Empty(t, link, "the link goes by mail only")
	require.Len(t, mailer.sent, 1)
	m := mailer.sent[0]
	assert.Equal(t, "erin@acme.test", m.to)
	assert.Equal(t, "Invitation to Acme on kvmrelay", m.subject)
	i := strings.Index(m.body, "https://relay.test/console/#invite=kvmi_")
	require.GreaterOrEqual(t, i, 0, m.body)
	tok := strings.Fields(m.body[i:])[0]
	_, err = e.svc.AcceptInvite(ctx, inviteToken(t, tok), "erins password", "192.0.2.7")
	require.NoError(t, err)

	mailer.err = errors.New("smtp down")
	link, inv, err := e.svc.Invite(ctx, owner, "frank@acme.test", store.RoleViewer, nil)
	require.ErrorIs(t, err, ErrMail)
	assert.NotEmpty(t, inv.ID, "the invitation stands")
	_, err = e.svc.AcceptInvite(ctx, inviteToken(t, link), "franks password", "192.0.2.7")
	require.NoError(t, err, "the returned link can be passed on by hand")
}

func TestSetRole(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	admin := e.addUser(t, org.ID, "admin@acme.test", "admin password", store.RoleAdmin, nil)
	labAdmin := e.addUser(t, org.ID, "lab@acme.test", "lab admin password", store.RoleAdmin, map[string]string{"site": "lab"})
	op := e.addUser(t, org.ID, "op@acme.test", "operator password", store.RoleOperator, nil)

	for _, tc := range []struct {
		name   string
		p      Principal
		target string
		role   store.Role
		err    error
	}{
		{"operator may not", op, admin.ID, store.RoleViewer, ErrForbidden},
		{"admin may not make an owner", admin, op.ID, store.RoleOwner, ErrForbidden},
		{"admin may not demote the owner", admin, owner.ID, store.RoleViewer, ErrForbidden},
		{"scoped admin may not change an unscoped user", labAdmin, op.ID, store.RoleViewer, ErrForbidden},
		{"unknown user", admin, store.NewID(), store.RoleViewer, ErrNotFound},
		{"malformed id", admin, "x", store.RoleViewer, ErrNotFound},
		{"unknown role", admin, op.ID, "god", ErrInvalid},
		{"last owner", owner, owner.ID, store.RoleAdmin, ErrInvalid},
		{"admin demotes operator", admin, op.ID, store.RoleViewer, nil},
		{"unchanged", admin, op.ID, store.RoleViewer, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.SetRole(ctx, tc.p, tc.target, tc.role)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	assert.Equal(t, store.RoleViewer, e.user(t, org.ID, op.ID).Role)

	// With a second owner, the first may step down.
	require.NoError(t, e.svc.SetRole(ctx, owner, admin.ID, store.RoleOwner))
	require.NoError(t, e.svc.SetRole(ctx, owner, owner.ID, store.RoleAdmin))

	changes := auditsOf(e.audits(t, org.ID), store.AuditRoleChange)
	require.Len(t, changes, 4) // bootstrap, operator→viewer, admin→owner, owner→admin
	assert.Equal(t, "bootstrap_owner", changes[0].Details["event"])
	assert.Equal(t, "system", changes[0].Actor)
	assert.Equal(t, admin.String(), changes[1].Actor)
	assert.Equal(t, "user:"+op.ID, changes[1].Target)
	assert.Equal(t, "operator", changes[1].Details["from"])
	assert.Equal(t, "viewer", changes[1].Details["to"])
}

func TestLists(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	lab := map[string]string{"site": "lab"}
	labAdmin := e.addUser(t, org.ID, "lab@acme.test", "lab admin password", store.RoleAdmin, lab)
	e.addUser(t, org.ID, "op@acme.test", "operator password", store.RoleOperator, nil)
	viewer := e.addUser(t, org.ID, "v@acme.test", "viewer password", store.RoleViewer, lab)
	_, _, err := e.svc.CreateAPIKey(ctx, owner, "all", store.RoleViewer, nil)
	require.NoError(t, err)
	_, _, err = e.svc.CreateAPIKey(ctx, labAdmin, "lab", store.RoleViewer, lab)
	require.NoError(t, err)
	_, _, err = e.svc.Invite(ctx, owner, "x@acme.test", store.RoleViewer, nil)
	require.NoError(t, err)
	_, _, err = e.svc.Invite(ctx, labAdmin, "y@acme.test", store.RoleViewer, lab)
	require.NoError(t, err)

	emails := func(p Principal) []string {
		users, err := e.svc.Users(ctx, p)
		require.NoError(t, err)
		var out []string
		for _, u := range users {
			assert.Empty(t, u.PasswordHash)
			assert.Empty(t, u.TOTPSecret)
			out = append(out, u.Email)
		}
		return out
	}
	assert.ElementsMatch(t, []string{"owner@acme.test", "lab@acme.test", "op@acme.test", "v@acme.test"}, emails(owner))
	assert.ElementsMatch(t, []string{"lab@acme.test", "v@acme.test"}, emails(labAdmin), "a scoped admin sees its scope")

	keys, err := e.svc.APIKeys(ctx, labAdmin)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, "lab", keys[0].Name)
	assert.Empty(t, keys[0].Hash)
	keys, err = e.svc.APIKeys(ctx, owner)
	require.NoError(t, err)
	assert.Len(t, keys, 2)

	invs, err := e.svc.Invitations(ctx, labAdmin)
	require.NoError(t, err)
	require.Len(t, invs, 1)
	assert.Equal(t, "y@acme.test", invs[0].Email)
	assert.Empty(t, invs[0].TokenHash)

	_, err = e.svc.Users(ctx, viewer)
	assert.ErrorIs(t, err, ErrForbidden)
	_, err = e.svc.APIKeys(ctx, viewer)
	assert.ErrorIs(t, err, ErrForbidden)
	_, err = e.svc.Invitations(ctx, viewer)
	assert.ErrorIs(t, err, ErrForbidden)
}

// TestAcceptInviteRateLimited: guessing invitation tokens from one address is bounded, as for
// reset links, and other addresses are not held up by it.
func TestAcceptInviteRateLimited(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var err error
	for range 20 {
		if _, err = e.svc.AcceptInvite(ctx, "kvmi_"+strings.Repeat("C", 43), "some password here", "198.51.100.9"); errors.Is(err, ErrRateLimited) {
			break
		}
		require.ErrorIs(t, err, ErrInvalidToken)
	}
	assert.ErrorIs(t, err, ErrRateLimited)
	_, err = e.svc.AcceptInvite(ctx, "kvmi_"+strings.Repeat("C", 43), "some password here", "198.51.100.10")
	assert.ErrorIs(t, err, ErrInvalidToken, "another address")
}
