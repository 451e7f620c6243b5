package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
	"github.com/kvmrelay/kvmrelay/turn"
)

// rightsWorld is a deployment of one or two relay nodes with one organization: changes go
// through node A's API with an admin's API key; agents connect to node A; consoles and
// console links are opened on the last node, so with two nodes every end crosses the bus.
type rightsWorld struct {
	a, b  *devRelay // b == a with one node
	admin string    // API key of an admin
	owner accounts.Principal
}

// turnConfig is an embedded TURN server on loopback with one secret for every node.
func turnConfig() *turn.Config {
	return &turn.Config{ListenAddr: "127.0.0.1:0", PublicIP: netip.MustParseAddr("127.0.0.1"),
		Secrets: [][]byte{[]byte("reauth-test-turn-secret-0123456789")}}
}

func newRightsWorld(t *testing.T, nodes int) *rightsWorld {
	t.Helper()
	ctx := context.Background()
	adjust := func(c *Config) { c.TURN = turnConfig(); c.RedeemPerMinute = 10_000 }
	if nodes == 2 {
		rs := testenv.StartRedis(t)
		pgc := postgresConfig(t)
		adjust = func(c *Config) {
			pgc(c)
			c.RedisURL = rs.URL()
			c.TURN = turnConfig()
			c.RedeemPerMinute = 10_000
		}
	}
	cfg := quietConfig(t)
	adjust(&cfg)
	a := &devRelay{Relay: serveRelay(t, cfg)}
	b := a
	if nodes == 2 {
		cfgB := a.cfg
		cfgB.Listen, cfgB.PublicURL = "127.0.0.1:0", a.URL() // one deployment, one public URL
		cfgB.TURN = turnConfig()
		b = &devRelay{Relay: serveRelay(t, cfgB)}
	}
	org, owner, err := a.control.accounts.CreateOwner(ctx, "Acme", "acme", "owner@acme.example", "correct horse battery staple")
	require.NoError(t, err)
	a.org, b.org = org.ID, org.ID
	w := &rightsWorld{a: a, b: b, owner: accounts.Principal{OrgID: org.ID, Kind: accounts.KindUser, ID: owner.ID, Role: store.RoleOwner}}
	w.admin, _, err = a.control.accounts.CreateAPIKey(ctx, w.owner, "admin", store.RoleAdmin, nil)
	require.NoError(t, err)
	return w
}

// api calls node A's API as the admin and fails the test unless it answers 2xx.
func (w *rightsWorld) api(t *testing.T, method, path string, body any) {
	t.Helper()
	var in bytes.Buffer
	if body != nil {
		require.NoError(t, json.NewEncoder(&in).Encode(body))
	}
	req, err := http.NewRequest(method, w.a.base()+"/api/v1"+path, &in)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+w.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	require.Less(t, resp.StatusCode, 300, "%s %s: %v", method, path, out)
}

// subject is whoever holds the consoles in one case: an operator user or an operator API
// key, both scoped to site=fra1, and a device of that site with its agent connected.
type subject struct {
	principal string // "user:<id>" or "apikey:<id>"
	userID    string
	keyID     string
	device    store.Device
	agent     *sigclient.Client
}

func (w *rightsWorld) subject(t *testing.T, name string, apiKey bool) *subject {
	t.Helper()
	ctx := context.Background()
	s := &subject{}
	fra := map[string]string{"site": "fra1"}
	require.NoError(t, w.a.Store().Write(ctx, w.a.org, func(tx store.Tx) error {
		var err error
		if s.device, err = tx.CreateDevice(ctx, store.Device{Name: name, Labels: fra, CreatedAt: time.Now()}); err != nil {
			return err
		}
		if apiKey {
			return nil
		}
		u, err := tx.CreateUser(ctx, store.User{Email: name + "@acme.example", Role: store.RoleOperator, Scope: fra, CreatedAt: time.Now()})
		s.userID, s.principal = u.ID, "user:"+u.ID
		return err
	}))
	if apiKey {
		_, k, err := w.a.control.accounts.CreateAPIKey(ctx, w.owner, name, store.RoleOperator, fra)
		require.NoError(t, err)
		s.keyID, s.principal = k.ID, "apikey:"+k.ID
	}
	tok, err := AgentToken(w.a.Issuer(), s.device.ID, time.Hour)
	require.NoError(t, err)
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: w.a.wsURL("/ws/agent"), Token: tok})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	s.agent = c
	return s
}

// link starts a console session for the subject, as POST /devices/{id}/sessions does, and
// returns its session id and the one-time code of its console link.
func (w *rightsWorld) link(t *testing.T, s *subject) (sid, code string) {
	t.Helper()
	started, err := w.a.control.sessions.Start(context.Background(), w.a.org, s.principal, s.device.ID, wire.GrantControl)
	require.NoError(t, err)
	u, err := url.Parse(started.ConsoleURL)
	require.NoError(t, err)
	code, ok := strings.CutPrefix(u.Fragment, "code=")
	require.True(t, ok)
	code, err = url.QueryUnescape(code)
	require.NoError(t, err)
	return started.Session.ID, code
}

// liveConsole is a console connected on node B, its session started at the agent, and TURN
// allocations with its credentials on every node.
type liveConsole struct {
	sid   string
	conn  *sigclient.Client
	turns []*pionturn.Client
}

func (w *rightsWorld) openConsole(t *testing.T, s *subject) *liveConsole {
	t.Helper()
	sid, code := w.link(t, s)
	status, out := redeemAt(t, w.b.base(), `{"code":"`+code+`"}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sigclient.Dial(ctx, sigclient.DialConfig{URL: w.b.wsURL("/ws/console"), Token: out["token"].(string)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	welcome, err := recvWithin(t, c)
	require.NoError(t, err)
	require.Equal(t, wire.TypeWelcome, welcome.Type)
	var wel wire.Welcome
	require.NoError(t, wire.DecodeData(welcome, &wel))
	waitAgentStatus(t, c, true)
	require.NoError(t, c.Send(wire.TypeJoin, sid, wire.Join{Codecs: []string{"video/VP8"}}))
	for {
		e, err := recvWithin(t, s.agent)
		require.NoError(t, err)
		if e.Type == wire.TypeSessionStart && e.SID == sid {
			break
		}
	}
	lc := &liveConsole{sid: sid, conn: c}
	username, password := turnCredentials(t, wel.ICEServers)
	for _, n := range w.nodes() {
		tc := turnClient(t, n.TURN().UDPAddr().String(), username, password)
		relayed, err := tc.Allocate()
		require.NoError(t, err, "the session's TURN credentials allocate on every node")
		t.Cleanup(func() { _ = relayed.Close() }) // stops its refresh timers; before the client's cleanup
		lc.turns = append(lc.turns, tc)
	}
	return lc
}

func (w *rightsWorld) nodes() []*devRelay {
	if w.a == w.b {
		return []*devRelay{w.a}
	}
	return []*devRelay{w.a, w.b}
}

func turnCredentials(t *testing.T, servers []wire.ICEServer) (string, string) {
	t.Helper()
	for _, s := range servers {
		if s.Username != "" {
			return s.Username, s.Credential
		}
	}
	t.Fatal("the welcome carries no TURN credentials")
	return "", ""
}

// turnClient is pion's TURN client on UDP, the one browsers' stacks behave like.
func turnClient(t *testing.T, server, username, password string) *pionturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	c, err := pionturn.NewClient(&pionturn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: username, Password: password, LoggerFactory: lf, RTO: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	t.Cleanup(func() { c.Close(); _ = conn.Close() })
	return c
}

// turnAllocations sums the node's open TURN allocations.
func turnAllocations(t *testing.T, n *devRelay) float64 {
	t.Helper()
	mfs, err := n.metrics.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "kvmrelay_turn_allocations_active" {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// sessionEnded reads the console until the relay says its session ended, and returns what it
// said; it fails if that takes longer than recvWithin's few seconds per message (the
// periodic check, 15 s, would be too late).
func sessionEnded(t *testing.T, c *sigclient.Client) string {
	t.Helper()
	for {
		e, err := recvWithin(t, c)
		require.NoError(t, err, "the connection closed before the relay said why")
		if e.Type != wire.TypeError {
			continue
		}
		var m wire.ErrorMessage
		require.NoError(t, wire.DecodeData(e, &m))
		if m.Code == wire.CodeSessionEnded {
			return m.Message
		}
	}
}

// waitBye reads the agent's messages until the relay says bye for sid.
func waitBye(t *testing.T, agent *sigclient.Client, sid string) {
	t.Helper()
	for {
		e, err := recvWithin(t, agent)
		require.NoError(t, err)
		if e.Type == wire.TypeBye && e.SID == sid {
			return
		}
	}
}

func (w *rightsWorld) storedSession(t *testing.T, sid string) store.ConsoleSession {
	t.Helper()
	var s store.ConsoleSession
	require.NoError(t, w.a.Store().Read(context.Background(), w.a.org, func(tx store.Tx) error {
		var err error
		s, err = tx.Session(context.Background(), sid)
		return err
	}))
	return s
}

// rightChanges are the changes of SECURITY.md item 17: each takes the subject's right to its
// consoles away, and the reason the console is told.
var rightChanges = []struct {
	name   string
	apiKey bool
	// agentCut: the change cuts the device's agent too (revoked): it is told so and closed
	// rather than sent a bye.
	agentCut bool
	change   func(t *testing.T, w *rightsWorld, s *subject)
	reason   func(s *subject) string
}{
	{"API key revoked", true, false,
		func(t *testing.T, w *rightsWorld, s *subject) { w.api(t, "DELETE", "/api-keys/"+s.keyID, nil) },
		func(*subject) string { return "the API key that opened this console was revoked" }},
	{"role lowered", false, false,
		func(t *testing.T, w *rightsWorld, s *subject) {
			w.api(t, "PATCH", "/users/"+s.userID, map[string]any{"role": "auditor"})
		},
		func(s *subject) string { return "your role (auditor) no longer allows consoles on " + s.device.Name }},
	{"scope changed", false, false,
		func(t *testing.T, w *rightsWorld, s *subject) {
			w.api(t, "PATCH", "/users/"+s.userID, map[string]any{"scope": map[string]string{"site": "ams1"}})
		},
		func(s *subject) string { return s.device.Name + " is no longer within your device scope (site=ams1)" }},
	{"device relabelled", false, false,
		func(t *testing.T, w *rightsWorld, s *subject) {
			w.api(t, "PATCH", "/devices/"+s.device.ID, map[string]any{"labels": map[string]string{"site": "ams1"}})
		},
		func(s *subject) string { return s.device.Name + " is no longer within your device scope (site=fra1)" }},
	{"user disabled", false, false,
		func(t *testing.T, w *rightsWorld, s *subject) { w.api(t, "POST", "/users/"+s.userID+"/disable", nil) },
		func(*subject) string { return "user disabled" }},
	{"device revoked", false, true,
		func(t *testing.T, w *rightsWorld, s *subject) { w.api(t, "DELETE", "/devices/"+s.device.ID, nil) },
		func(*subject) string { return "device revoked" }},
}

// testRightRemoved is SECURITY.md item 17 on w: for each change, the subject's live console
// is told at once why it ended and closed, the agent gets a bye, the session is STOPPED with
// the reason, its TURN allocations on every node are closed and its credentials refused, and
// its console link not yet opened is refused with the reason. A change that takes no right
// away (a role raised) ends nothing.
func testRightRemoved(t *testing.T, w *rightsWorld) {
	for i, tc := range rightChanges {
		t.Run(tc.name, func(t *testing.T) {
			s := w.subject(t, "rack12-node"+string(rune('a'+i)), tc.apiKey)
			live := w.openConsole(t, s)
			unopened, code := w.link(t, s)
			before := make([]float64, 0, 2)
			for _, n := range w.nodes() {
				before = append(before, turnAllocations(t, n))
			}

			tc.change(t, w, s)

			msg := sessionEnded(t, live.conn)
			assert.Contains(t, msg, tc.reason(s), "the console is told why")
			waitClosedWithin(t, live.conn, 5*time.Second)
			if tc.agentCut {
				assert.Equal(t, wire.CodeUnauthorized, recvErrorCode(t, s.agent))
				waitClosedWithin(t, s.agent, 5*time.Second)
			} else {
				waitBye(t, s.agent, live.sid)
			}
			got := w.storedSession(t, live.sid)
			assert.Equal(t, store.SessionStopped, got.Current)
			assert.Equal(t, tc.reason(s), got.Reason)
			assert.Equal(t, store.SessionStopped, w.storedSession(t, unopened).Current, "the unopened link's session is stopped too")

			status, out := redeemAt(t, w.b.base(), `{"code":"`+code+`"}`)
			assert.Equal(t, http.StatusUnauthorized, status, "%v", out)
			assert.Equal(t, "session-ended", out["code"])
			assert.Contains(t, out["message"], tc.reason(s), "the link's page says why")

			for i, n := range w.nodes() {
				require.Eventually(t, func() bool { return turnAllocations(t, n) == before[i]-1 }, 5*time.Second, 10*time.Millisecond,
					"the session's TURN allocation on node %d is closed", i)
				_, err := live.turns[i].Allocate()
				assert.Error(t, err, "the session's TURN credentials no longer allocate on node %d", i)
			}
		})
	}

	t.Run("role raised ends nothing", func(t *testing.T) {
		s := w.subject(t, "rack12-node-kept", false)
		live := w.openConsole(t, s)
		_, code := w.link(t, s)
		w.api(t, "PATCH", "/users/"+s.userID, map[string]any{"role": "admin"})
		assert.Equal(t, store.SessionActive, w.storedSession(t, live.sid).Current)
		status, out := redeemAt(t, w.b.base(), `{"code":"`+code+`"}`)
		assert.Equal(t, http.StatusOK, status, "%v", out)
		require.NoError(t, live.conn.Send(wire.TypeJoin, live.sid, wire.Join{Codecs: []string{"video/VP8"}}))
		for {
			e, err := recvWithin(t, s.agent)
			require.NoError(t, err)
			if e.Type == wire.TypeSessionStart && e.SID == live.sid {
				break
			}
		}
	})
}

// TestRightRemovedEndsConsoles: SECURITY.md item 17 on one relay node (embedded store,
// in-process bus).
func TestRightRemovedEndsConsoles(t *testing.T) {
	testRightRemoved(t, newRightsWorld(t, 1))
}

// TestRightRemovedEndsConsolesAcrossNodes: SECURITY.md item 17 on two relay nodes sharing
// PostgreSQL and Redis: the change is made on node A, the consoles and links are on node B,
// and each node's TURN server ends the session's allocations.
func TestRightRemovedEndsConsolesAcrossNodes(t *testing.T) {
	testRightRemoved(t, newRightsWorld(t, 2))
}

// TestRedeemRechecksRights: a console link whose principal lost the right to it without the
// relay hearing (a change straight in the store: no event) is refused when redeemed, with the
// reason, and its session is stopped; the periodic check ends a live console the same way.
func TestRedeemRechecksRights(t *testing.T) {
	w := newRightsWorld(t, 1)
	ctx := context.Background()
	s := w.subject(t, "rack7", false)
	sid, code := w.link(t, s)
	require.NoError(t, w.a.Store().Write(ctx, w.a.org, func(tx store.Tx) error {
		u, err := tx.User(ctx, s.userID)
		if err != nil {
			return err
		}
		u.Role = store.RoleAuditor
		return tx.UpdateUser(ctx, u)
	}))
	status, out := redeemAt(t, w.a.base(), `{"code":"`+code+`"}`)
	assert.Equal(t, http.StatusForbidden, status, "%v", out)
	assert.Equal(t, "not-allowed", out["code"])
	assert.Contains(t, out["message"], "your role (auditor) no longer allows consoles on rack7")
	got := w.storedSession(t, sid)
	assert.Equal(t, store.SessionStopped, got.Current)
	assert.Equal(t, "your role (auditor) no longer allows consoles on rack7", got.Reason)

	// The backstop: the periodic check re-derives the rights of a connected console.
	s2 := w.subject(t, "rack8", false)
	sid2, _ := w.link(t, s2)
	claims := auth.Claims{Subject: s2.principal, Device: s2.device.ID, Session: sid2, Tenant: w.a.org}
	_, err := w.a.control.sessions.Admit(ctx, claims)
	require.NoError(t, err)
	require.NoError(t, w.a.Store().Write(ctx, w.a.org, func(tx store.Tx) error {
		d, err := tx.Device(ctx, s2.device.ID)
		if err != nil {
			return err
		}
		d.Labels = map[string]string{"site": "ams1"}
		return tx.UpdateDevice(ctx, d)
	}))
	_, err = sessionGate{w.a.control.sessions}.Check(ctx, claims)
	require.ErrorIs(t, err, signaling.ErrSessionOver)
	assert.Equal(t, "rack8 is no longer within your device scope (site=fra1)", w.storedSession(t, sid2).Reason)
}
