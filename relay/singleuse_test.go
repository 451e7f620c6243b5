package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestSingleUseAcrossNodes: two relay nodes share PostgreSQL and the data directory's keys. A
// proof of key that opened an agent connection on node A is refused on node B, and a console
// link redeemed on node A is refused on node B: single use holds for the deployment, not per
// node. A node started afresh on the same database remembers too.
func TestSingleUseAcrossNodes(t *testing.T) {
	a := startDevRelay(t, postgresConfig(t))
	cfgB := a.cfg
	cfgB.Listen, cfgB.PublicURL = "127.0.0.1:0", a.URL() // one deployment, one public URL
	b := &devRelay{Relay: serveDevRelay(t, cfgB), org: a.org}
	ctx := context.Background()

	dev, id := a.enrolled(t, "rack-1")
	h, err := enroll.ProofHeader(ctx, a.client(t, id), id, time.Now())
	require.NoError(t, err)
	conn, err := a.dialAgentWith(t, h, nil)
	require.NoError(t, err, "the proof opens node A")
	conn.Close()
	_, err = b.dialAgentWith(t, h, nil)
	require.ErrorIs(t, err, sigclient.ErrRefused, "the same proof replayed on node B")
	assert.Contains(t, err.Error(), "HTTP 401")

	var ann store.User // an operator: console rights are re-derived from the store
	require.NoError(t, a.Store().Write(ctx, a.org, func(tx store.Tx) error {
		var err error
		ann, err = tx.CreateUser(ctx, store.User{Email: "ann@acme.example", Role: store.RoleOperator, CreatedAt: time.Now()})
		return err
	}))
	code := func() string {
		started, err := a.control.sessions.Start(ctx, a.org, "user:"+ann.ID, dev, wire.GrantControl)
		require.NoError(t, err)
		u, err := url.Parse(started.ConsoleURL)
		require.NoError(t, err)
		c, ok := strings.CutPrefix(u.Fragment, "code=")
		require.True(t, ok, started.ConsoleURL)
		c, err = url.QueryUnescape(c)
		require.NoError(t, err)
		return c
	}
	link := code()
	status, out := redeemAt(t, a.base(), `{"code":"`+link+`"}`)
	require.Equal(t, 200, status, "%v", out)
	status, out = redeemAt(t, b.base(), `{"code":"`+link+`"}`)
	assert.Equal(t, 401, status, "%v", out)
	assert.Equal(t, "link-used", out["code"])
	assert.Contains(t, out["message"], "kvmctl console start", "the error says how to get a new link")

	// A node that never saw the link, started after it was used, refuses it as well.
	c := &devRelay{Relay: serveDevRelay(t, cfgB), org: a.org}
	status, out = redeemAt(t, c.base(), `{"code":"`+link+`"}`)
	assert.Equal(t, 401, status, "%v", out)
	assert.Equal(t, "link-used", out["code"])

	// An unused link still works on any node.
	status, out = redeemAt(t, b.base(), `{"code":"`+code()+`"}`)
	assert.Equal(t, 200, status, "%v", out)
}

// redeemAt posts a redeem request to one node's own address.
func redeemAt(t *testing.T, base, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/console/redeem", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// TestPruneSpent: pruning forgets only what expired, in every organization.
func TestPruneSpent(t *testing.T) {
	d := startDevRelay(t, nil)
	ctx := context.Background()
	other, err := d.Store().CreateOrganization(ctx, store.Organization{Name: "other", Slug: "other-" + strings.ToLower(store.NewID()[:8])})
	require.NoError(t, err)
	now := time.Now()
	for _, org := range []string{d.org, other.ID} {
		require.NoError(t, spendOnce(ctx, d.Store(), org, store.SpendConsoleLink, "old", now.Add(-time.Second)))
		require.NoError(t, spendOnce(ctx, d.Store(), org, store.SpendConsoleLink, "live", now.Add(time.Hour)))
	}
	require.NoError(t, pruneSpent(ctx, d.Store(), now))
	for _, org := range []string{d.org, other.ID} {
		assert.NoError(t, spendOnce(ctx, d.Store(), org, store.SpendConsoleLink, "old", now.Add(time.Hour)), "pruned")
		assert.ErrorIs(t, spendOnce(ctx, d.Store(), org, store.SpendConsoleLink, "live", now.Add(time.Hour)), errSpent, "kept")
	}
}
