package shares

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestCreate: who may share which console, and what a share is: the session's own person
// whose console may hold control now, or an admin; never a console that only watches; a
// guest link only where the organization allows them, for 5 min to 24 h.
func TestCreate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	opSession := f.start(t, f.operator)
	viewerSession := f.start(t, f.viewer)
	otherOp := f.newUser(t, f.org.ID, "otto@acme.example", store.RoleOperator, nil)
	ended := f.start(t, f.operator)
	_, err := f.m.Stop(ctx, f.org.ID, ended.ID, f.operator.String(), "done")
	require.NoError(t, err)
	scopedAdmin := f.newUser(t, f.org.ID, "sam@acme.example", store.RoleAdmin, map[string]string{"site": "elsewhere"})

	cases := []struct {
		name    string
		by      Caller
		session string
		req     Request
		guests  bool
		want    error
		expires time.Duration // for guests: how long from now
	}{
		{"operator shares own console with a member", caller(f.operator), opSession.ID, Request{Kind: store.ShareMember}, false, nil, 0},
		{"a duration on a member link is ignored", caller(f.operator), opSession.ID, Request{Kind: store.ShareMember, TTL: time.Hour}, false, nil, 0},
		{"guest link while guest links are off", caller(f.operator), opSession.ID, Request{Kind: store.ShareGuest}, false, ErrGuestLinksOff, 0},
		{"guest link, default hour", caller(f.operator), opSession.ID, Request{Kind: store.ShareGuest}, true, nil, time.Hour},
		{"guest link, 24 h", caller(f.operator), opSession.ID, Request{Kind: store.ShareGuest, TTL: 24 * time.Hour}, true, nil, 24 * time.Hour},
		{"guest link, 5 min", caller(f.operator), opSession.ID, Request{Kind: store.ShareGuest, TTL: 5 * time.Minute}, true, nil, 5 * time.Minute},
		{"guest link shorter than 5 min", caller(f.operator), opSession.ID, Request{Kind: store.ShareGuest, TTL: 4 * time.Minute}, true, ErrBadRequest, 0},
		{"guest link longer than 24 h", caller(f.operator), opSession.ID, Request{Kind: store.ShareGuest, TTL: 25 * time.Hour}, true, ErrBadRequest, 0},
		{"unknown kind", caller(f.operator), opSession.ID, Request{Kind: "public"}, true, ErrBadRequest, 0},
		{"a viewer's console only watches", caller(f.viewer), viewerSession.ID, Request{Kind: store.ShareMember}, false, ErrForbidden, 0},
		{"another operator's console", caller(otherOp), opSession.ID, Request{Kind: store.ShareMember}, false, ErrForbidden, 0},
		{"an auditor", caller(f.auditor), opSession.ID, Request{Kind: store.ShareMember}, false, ErrForbidden, 0},
		{"an admin shares anyone's console", caller(f.owner), opSession.ID, Request{Kind: store.ShareMember}, false, nil, 0},
		{"an admin whose scope misses the device", caller(scopedAdmin), opSession.ID, Request{Kind: store.ShareMember}, false, ErrForbidden, 0},
		{"an ended console", caller(f.operator), ended.ID, Request{Kind: store.ShareMember}, false, ErrConflict, 0},
		{"no such console", caller(f.operator), store.NewID(), Request{Kind: store.ShareMember}, false, ErrNotFound, 0},
		{"a console token reaches its own session only", Caller{Principal: f.operator.String(), Console: store.NewID()}, opSession.ID,
			Request{Kind: store.ShareMember}, false, ErrNotFound, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.setGuestLinks(t, tc.guests)
			created, err := f.svc.Create(ctx, f.org.ID, tc.by, tc.session, tc.req)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				var se *Error
				require.ErrorAs(t, err, &se)
				assert.NotEmpty(t, se.Msg, "a refusal says what to do")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.req.Kind, created.Share.Kind)
			assert.Equal(t, tc.session, created.Share.SessionID)
			assert.Equal(t, f.device.ID, created.DeviceID)
			assert.Equal(t, "rack-1", created.DeviceName)
			assert.Equal(t, tc.by.Principal, created.Share.CreatedBy)
			assert.True(t, created.Live)
			if tc.req.Kind == store.ShareGuest {
				assert.True(t, strings.HasPrefix(created.Link, "https://relay.example/console/#guest=kvms_"), created.Link)
				require.NotNil(t, created.Share.ExpiresAt)
				assert.Equal(t, f.clk.Now().Add(tc.expires), *created.Share.ExpiresAt)
			} else {
				assert.True(t, strings.HasPrefix(created.Link, "https://relay.example/console/#share=kvms_"), created.Link)
				assert.Nil(t, created.Share.ExpiresAt, "a member link lasts as long as its console")
			}
		})
	}

	// Every share made is audited with its kind, console and creator.
	made := f.audits(t, f.org.ID, store.AuditShareCreate)
	require.Len(t, made, 6)
	assert.Equal(t, f.operator.String(), made[0].Actor)
	assert.Equal(t, "device:"+f.device.ID, made[0].Target)
	assert.Equal(t, "member", made[0].Details["kind"])
	assert.Equal(t, opSession.ID, made[0].Details["session"])
	assert.Equal(t, f.operator.String(), made[0].Details["by"])
	assert.NotEmpty(t, made[2].Details["expires_at"], "a guest link's expiry is audited")
	assert.Equal(t, f.owner.String(), made[5].Actor)
}

// TestCreateRederivesRights: the right to share is the console's now, not the one it opened
// with: an operator lowered to viewer shares nothing.
func TestCreateRederivesRights(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.start(t, f.operator)
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		u, err := tx.User(ctx, f.operator.ID)
		if err != nil {
			return err
		}
		u.Role = store.RoleViewer
		return tx.UpdateUser(ctx, u)
	}))
	_, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
	assert.ErrorIs(t, err, ErrForbidden)
	// A console token's grant decides for a principal whose rights are not stored.
	oidc := Caller{Principal: "oidc:alice", Fallback: func(store.Device) wire.Grant { return wire.GrantView }}
	started, err := f.m.Start(ctx, f.org.ID, "oidc:alice", f.device.ID, wire.GrantView)
	require.NoError(t, err)
	_, err = f.svc.Create(ctx, f.org.ID, oidc, started.Session.ID, Request{Kind: store.ShareMember})
	assert.ErrorIs(t, err, ErrForbidden)
	oidc.Fallback = func(store.Device) wire.Grant { return wire.GrantControl }
	_, err = f.svc.Create(ctx, f.org.ID, oidc, started.Session.ID, Request{Kind: store.ShareMember})
	assert.NoError(t, err)
}

// TestTokenNeverStored: the store keeps the token's SHA-256 only; no column of the row holds
// the token, and the link is the one place it is given.
func TestTokenNeverStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.setGuestLinks(t, true)
	s := f.start(t, f.operator)
	for _, kind := range []store.ShareKind{store.ShareMember, store.ShareGuest} {
		created, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: kind})
		require.NoError(t, err)
		token := tokenOf(t, created.Link)
		require.True(t, strings.HasPrefix(token, "kvms_"))
		sum := sha256.Sum256([]byte(token))

		raw, err := sqlite.RawDB(f.dir)
		require.NoError(t, err)
		row := map[string]any{}
		rows, err := raw.Query(`SELECT * FROM session_shares WHERE id = ?`, created.Share.ID)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		require.True(t, rows.Next())
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		require.NoError(t, rows.Close())
		require.NoError(t, raw.Close())
		for i, c := range cols {
			row[c] = vals[i]
			if str, ok := vals[i].(string); ok {
				assert.NotContains(t, str, strings.TrimPrefix(token, "kvms_"), "column %s holds the token", c)
			}
		}
		assert.Equal(t, hex.EncodeToString(sum[:]), row["token_hash"])
	}
}

// TestMaxLiveShares: a console holds at most 20 live shares; a revoked one frees its place.
func TestMaxLiveShares(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.start(t, f.operator)
	var first Created
	for i := range MaxLiveShares {
		c, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
		require.NoError(t, err, "share %d", i+1)
		if i == 0 {
			first = c
		}
	}
	_, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
	require.ErrorIs(t, err, ErrConflict)
	require.NoError(t, f.svc.Revoke(ctx, f.org.ID, caller(f.operator), s.ID, first.Share.ID))
	_, err = f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
	require.NoError(t, err)
	list, err := f.svc.List(ctx, f.org.ID, caller(f.operator), s.ID)
	require.NoError(t, err)
	assert.Len(t, list, MaxLiveShares+1, "revoked shares are listed too")
}

// TestSharedConsoleCannotBeShared: a console joined through a share is not shared on, even
// by an admin.
func TestSharedConsoleCannotBeShared(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.start(t, f.operator)
	created, err := f.svc.Create(ctx, f.org.ID, caller(f.operator), s.ID, Request{Kind: store.ShareMember})
	require.NoError(t, err)
	joined, err := f.svc.JoinMember(ctx, f.owner, tokenOf(t, created.Link))
	require.NoError(t, err)
	for _, by := range []accounts.Principal{f.owner, f.operator} {
		_, err = f.svc.Create(ctx, f.org.ID, caller(by), joined.Session, Request{Kind: store.ShareMember})
		assert.ErrorIs(t, err, ErrForbidden)
	}
}
