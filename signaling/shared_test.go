package signaling

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// grantedToken is a console token without a tenant that carries grant.
func (r *testRelay) grantedToken(t *testing.T, device, sid string, grant wire.Grant) string {
	t.Helper()
	tok, _, err := r.issuer.Mint(auth.Claims{Subject: "alice", Audience: auth.AudienceConsole, Device: device, Session: sid, Grant: grant}, time.Minute)
	require.NoError(t, err)
	return tok
}

// console dials a console with token and waits until its agent is online.
func (r *testRelay) console(t *testing.T, token string) *sigclient.Client {
	t.Helper()
	c, err := r.dial(t, "/ws/console", token, r.origin())
	require.NoError(t, err)
	recvType(t, c, wire.TypeWelcome)
	waitOnline(t, c)
	return c
}

// forbiddenRecorder counts OnForbidden calls.
type forbiddenRecorder struct {
	mu  sync.Mutex
	got []string // "principal type target"
}

func (f *forbiddenRecorder) record(_ context.Context, _, principal string, t wire.Type, target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, principal+" "+string(t)+" "+target)
}

func (f *forbiddenRecorder) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// TestGrantRefusals: what a console's grant does not allow is refused at the relay with a
// sentence (forbidden), handed to OnForbidden, and never reaches the agent; the console stays
// connected. What it allows reaches the agent.
func TestGrantRefusals(t *testing.T) {
	type msg struct {
		typ  wire.Type
		data any
	}
	request := msg{wire.TypeControl, wire.Control{Action: wire.ControlRequest}}
	take := msg{wire.TypeControl, wire.Control{Action: wire.ControlTake}}
	cancel := msg{wire.TypeControl, wire.Control{Action: wire.ControlCancel}}
	approve := msg{wire.TypeControl, wire.Control{Action: wire.ControlApprove, From: "s_other"}}
	power := msg{wire.TypePowerAction, wire.PowerAction{Action: wire.PowerReset}}
	display := msg{wire.TypeDisplay, wire.DisplaySelect{Index: 1}}
	consent := msg{wire.TypeConsentCode, wire.ConsentCode{Code: "123456"}}
	for _, tc := range []struct {
		grant   wire.Grant
		refused map[msg]string // the refusal's sentence, in part
		allowed []msg
	}{
		{wire.GrantView, map[msg]string{
			request: "You are watching: your role does not allow control.",
			take:    "You are watching: your role does not allow control.",
			cancel:  "You are watching: your role does not allow control.",
			approve: "You are watching: your role does not allow control.",
			power:   "does not allow power actions. Ask someone in control",
			display: "does not allow switching screens. Ask someone in control",
			consent: "does not allow answering the machine's consent request. Ask someone in control",
		}, nil},
		{wire.GrantControl, map[msg]string{take: "Only an admin may take control; ask for it instead."},
			[]msg{request, cancel, approve, power, display, consent}},
		{"", map[msg]string{take: "Only an admin may take control"}, []msg{request}}, // a token without a grant: control
		{wire.GrantAdmin, nil, []msg{take, request, approve, power}},
	} {
		t.Run(string(tc.grant), func(t *testing.T) {
			forbidden := &forbiddenRecorder{}
			r := startRelayWith(t, func(c *Config) { c.OnForbidden = forbidden.record })
			agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
			require.NoError(t, err)
			console := r.console(t, r.grantedToken(t, "dev1", "s_1", tc.grant))
			fromAgent := pump(agent)

			for m, sentence := range tc.refused {
				require.NoError(t, console.Send(m.typ, "s_1", m.data))
				em := recvError(t, console)
				assert.Equal(t, wire.CodeForbidden, em.Code, "%s %v", m.typ, m.data)
				assert.Contains(t, em.Message, sentence)
			}
			for _, m := range tc.allowed {
				require.NoError(t, console.Send(m.typ, "s_1", m.data))
				assert.True(t, await(fromAgent, m.typ, "s_1", 5*time.Second), "%s %v reaches the agent", m.typ, m.data)
			}
			// The console is still connected, and its messages are handled in order: once this
			// candidate reached the agent, so would have anything refused before it.
			require.NoError(t, console.Send(wire.TypeCandidate, "s_1", wire.Candidate{}))
			deadline := time.After(5 * time.Second)
		drain:
			for {
				select {
				case e, ok := <-fromAgent:
					require.True(t, ok, "the agent stays connected")
					if e.Type == wire.TypeCandidate {
						break drain
					}
					t.Fatalf("the agent got %s %s", e.Type, e.Data)
				case <-deadline:
					t.Fatal("the console's candidate did not reach the agent")
				}
			}
			assert.Len(t, forbidden.all(), len(tc.refused), "each refusal is handed to the audit")
			for _, f := range forbidden.all() {
				assert.True(t, strings.HasPrefix(f, "alice "), f)
			}
		})
	}
}

// TestControlFromConsoleIsChecked: a malformed move closes the console as any malformed
// message does; a well-formed one goes to the agent as the console's own (its sid).
func TestControlFromConsoleIsChecked(t *testing.T) {
	r := startRelay(t)
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	console := r.console(t, r.grantedToken(t, "dev1", "s_1", wire.GrantControl))
	require.NoError(t, console.Send(wire.TypeControl, "s_1", wire.Control{Action: wire.ControlPass, To: "s_2"}))
	got := recvFor(t, agent, wire.TypeControl, "s_1")
	var mv wire.Control
	require.NoError(t, wire.DecodeData(got, &mv))
	assert.Equal(t, wire.Control{Action: wire.ControlPass, To: "s_2"}, mv)

	require.NoError(t, console.Send(wire.TypeControl, "s_1", wire.Control{Action: "seize"}))
	assert.Equal(t, wire.CodeBadMessage, recvError(t, console).Code)
	_, err = recv(t, console)
	require.Error(t, err, "closed")
}

// TestRosterReachesOnlyItsConsole: the agent's roster for a participant reaches that
// participant's console only; a roster out of bounds is dropped; a roster, control event or
// input burst for a session the agent does not carry is refused, reaches no one and is handed
// to OnForbidden.
func TestRosterReachesOnlyItsConsole(t *testing.T) {
	forbidden := &forbiddenRecorder{}
	r := startRelayWith(t, func(c *Config) { c.OnForbidden = forbidden.record })
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	other, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev2"), "")
	require.NoError(t, err)
	a := r.console(t, r.grantedToken(t, "dev1", "s_a", wire.GrantControl))
	b := r.console(t, r.grantedToken(t, "dev1", "s_b", wire.GrantView))
	c := r.console(t, r.grantedToken(t, "dev2", "s_c", wire.GrantControl))

	roster := wire.Roster{
		Participants: []wire.Participant{{SID: "s_a", Name: "alice", Grant: wire.GrantControl}, {SID: "s_b", Name: "bob", Grant: wire.GrantView}},
		Controller:   "s_a",
		Event:        &wire.RosterEvent{Kind: wire.EventGranted, Subject: "s_a"},
	}
	require.NoError(t, agent.Send(wire.TypeRoster, "s_a", roster))
	got := recvType(t, a, wire.TypeRoster)
	var rs wire.Roster
	require.NoError(t, wire.DecodeData(got, &rs))
	assert.Equal(t, roster, rs)
	assert.Equal(t, "s_a", got.SID)

	bad := roster
	bad.Controller = "s_nobody"
	require.NoError(t, agent.Send(wire.TypeRoster, "s_b", bad))
	hostile := roster
	hostile.Participants = []wire.Participant{{SID: "s_a", Name: "alice\u202e", Grant: wire.GrantControl}}
	hostile.Controller, hostile.Event = "", nil
	require.NoError(t, agent.Send(wire.TypeRoster, "s_b", hostile))
	expectNothing(t, b, 300*time.Millisecond)

	for _, m := range []struct {
		typ  wire.Type
		data any
	}{
		{wire.TypeRoster, roster},
		{wire.TypeControlEvent, wire.RosterEvent{Kind: wire.EventRequested}},
		{wire.TypeInputBurst, wire.InputBurst{From: 1, To: 2, Digest: strings.Repeat("0", 64)}},
	} {
		require.NoError(t, agent.Send(m.typ, "s_c", m.data))
		assert.Equal(t, wire.CodeForbidden, recvError(t, agent).Code, "%s for another device's session", m.typ)
	}
	expectNothing(t, c, 300*time.Millisecond)
	expectNothing(t, other, 100*time.Millisecond)
	assert.Equal(t, []string{"dev1 roster s_c", "dev1 control-event s_c", "dev1 input-burst s_c"}, forbidden.all())
	require.NoError(t, agent.Err(), "the agent stays connected")
	expectNothing(t, a, 100*time.Millisecond)
}

// audited records what a ControlAuditor is told.
type audited struct {
	mu     sync.Mutex
	joins  []SessionInfo
	leaves []string // "sid: reason"
	moves  []move
	inputs []input
}

type move struct {
	subject, by SessionInfo
	e           wire.RosterEvent
}

type input struct {
	info SessionInfo
	b    wire.InputBurst
}

func (a *audited) ConsoleJoined(_ context.Context, info SessionInfo) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.joins = append(a.joins, info)
	return nil
}

func (a *audited) ConsoleLeft(_ context.Context, info SessionInfo, reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leaves = append(a.leaves, info.SID+": "+reason)
	return nil
}

func (a *audited) ControlMoved(_ context.Context, subject, by SessionInfo, e wire.RosterEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.moves = append(a.moves, move{subject, by, e})
	return nil
}

func (a *audited) InputSent(_ context.Context, info SessionInfo, b wire.InputBurst) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inputs = append(a.inputs, input{info, b})
	return nil
}

func (a *audited) snapshot() audited {
	a.mu.Lock()
	defer a.mu.Unlock()
	return audited{joins: append([]SessionInfo(nil), a.joins...), leaves: append([]string(nil), a.leaves...),
		moves: append([]move(nil), a.moves...), inputs: append([]input(nil), a.inputs...)}
}

// names is a PrincipalNamer over a map, by session id first (a guest of a share link), then
// by principal.
type names map[string]string

func (n names) ParticipantName(_ context.Context, _, sid, principal string) (string, error) {
	if name, ok := n[sid]; ok {
		return name, nil
	}
	return n[principal], nil
}

// tenantTokenAs is a control-plane console token of principal for sid on device.
func (r *testRelay) tenantTokenAs(t *testing.T, principal, device, sid string, ttl time.Duration) string {
	t.Helper()
	tok, _, err := r.issuer.Mint(auth.Claims{Subject: principal, Audience: auth.AudienceConsole, Device: device, Session: sid, Tenant: "org1"}, ttl)
	require.NoError(t, err)
	return tok
}

// TestSharedSessionReports: consoles join with the grant the gate derived and the name the
// control plane gives their principal (cleaned), announced in session-start; joins and leaves
// are audited; the agent's control events and input bursts reach the auditor with the sessions
// the relay holds (the principals from the consoles' tokens, never from the agent), within
// bounds and only for sessions the agent carries.
func TestSharedSessionReports(t *testing.T) {
	g := &gate{live: map[string]bool{"s_op": true, "s_view": true, "s_far": true},
		grants: map[string]wire.Grant{"s_view": wire.GrantView}}
	aud := &audited{}
	forbidden := &forbiddenRecorder{}
	long := strings.Repeat("é", wire.MaxParticipantName) // 256 bytes
	r := startRelayWith(t, func(c *Config) {
		c.Sessions, c.Control, c.OnForbidden = g, aud, forbidden.record
		c.Names = names{"user:op": "Olga <olga@acme.example>\u202e\n", "user:view": long}
	})
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	far, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev2"), "")
	require.NoError(t, err)
	op := r.console(t, r.tenantTokenAs(t, "user:op", "dev1", "s_op", time.Minute))
	view := r.console(t, r.tenantTokenAs(t, "user:view", "dev1", "s_view", time.Minute))
	r.console(t, r.tenantTokenAs(t, "user:far", "dev2", "s_far", time.Minute))

	for _, tc := range []struct {
		c     *sigclient.Client
		sid   string
		grant wire.Grant
		name  string
	}{
		{op, "s_op", wire.GrantControl, "Olga <olga@acme.example>"},
		{view, "s_view", wire.GrantView, strings.Repeat("é", wire.MaxParticipantName/2)},
	} {
		require.NoError(t, tc.c.Send(wire.TypeJoin, tc.sid, wire.Join{Codecs: []string{"video/VP8"}}))
		var ss wire.SessionStart
		require.NoError(t, wire.DecodeData(recvFor(t, agent, wire.TypeSessionStart, tc.sid), &ss))
		assert.Equal(t, tc.grant, ss.Grant, tc.sid)
		assert.Equal(t, tc.name, ss.Name, "%s: printable, at most %d bytes", tc.sid, wire.MaxParticipantName)
		assert.LessOrEqual(t, len(ss.Name), wire.MaxParticipantName)
	}
	joins := aud.snapshot().joins
	require.Len(t, joins, 3)
	assert.Equal(t, "s_op", joins[0].SID)
	assert.Equal(t, wire.GrantControl, joins[0].Grant)
	assert.Equal(t, "s_view", joins[1].SID)
	assert.Equal(t, wire.GrantView, joins[1].Grant)
	assert.Equal(t, "user:view", joins[1].Principal)

	digest := strings.Repeat("ab", 32)
	send := func(c *sigclient.Client, typ wire.Type, sid string, data any) {
		t.Helper()
		require.NoError(t, c.Send(typ, sid, data))
	}
	// Accepted: a request, the controller's approval (By resolved by the relay), a burst.
	send(agent, wire.TypeControlEvent, "s_view", wire.RosterEvent{Kind: wire.EventRequested})
	send(agent, wire.TypeControlEvent, "s_view", wire.RosterEvent{Kind: wire.EventDeclined, By: "s_op", Subject: "s_view"})
	send(agent, wire.TypeInputBurst, "s_op", wire.InputBurst{From: 1_700_000_000_000, To: 1_700_000_060_000, Keys: 5, Pointer: 9, Digest: digest, Final: true})
	// Dropped: out of bounds, a join (the relay's to audit), a subject other than the sid, an
	// acting session of another machine, a bad digest; and another agent's report.
	send(agent, wire.TypeControlEvent, "s_view", wire.RosterEvent{Kind: wire.EventJoined})
	send(agent, wire.TypeControlEvent, "s_view", wire.RosterEvent{Kind: wire.EventReleased, Subject: "s_op"})
	send(agent, wire.TypeControlEvent, "s_view", wire.RosterEvent{Kind: wire.EventTaken, By: "s_far"})
	send(agent, wire.TypeControlEvent, "s_view", wire.RosterEvent{Kind: wire.EventReleased, Reason: "bad\x1b[0m"})
	send(agent, wire.TypeInputBurst, "s_op", wire.InputBurst{From: 2, To: 1, Digest: digest})
	send(agent, wire.TypeInputBurst, "s_op", wire.InputBurst{From: 1, To: 2, Digest: "KEYS: hunter2"})
	send(far, wire.TypeControlEvent, "s_op", wire.RosterEvent{Kind: wire.EventRequested})
	assert.Equal(t, wire.CodeForbidden, recvError(t, far).Code)
	// The last one says the agent's earlier messages were all handled.
	send(agent, wire.TypeControlEvent, "s_op", wire.RosterEvent{Kind: wire.EventTimedOut})
	require.Eventually(t, func() bool { return len(aud.snapshot().moves) == 3 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)

	got := aud.snapshot()
	require.Len(t, got.moves, 3)
	assert.Equal(t, "s_view", got.moves[0].subject.SID)
	assert.Equal(t, "user:view", got.moves[0].subject.Principal, "the principal the relay holds for the session")
	assert.Equal(t, wire.RosterEvent{Kind: wire.EventRequested, Subject: "s_view"}, got.moves[0].e)
	assert.Empty(t, got.moves[0].by.SID)
	assert.Equal(t, "s_op", got.moves[1].by.SID)
	assert.Equal(t, "user:op", got.moves[1].by.Principal)
	assert.Equal(t, wire.EventTimedOut, got.moves[2].e.Kind)
	require.Len(t, got.inputs, 1)
	assert.Equal(t, "user:op", got.inputs[0].info.Principal)
	assert.Equal(t, wire.InputBurst{From: 1_700_000_000_000, To: 1_700_000_060_000, Keys: 5, Pointer: 9, Digest: digest, Final: true}, got.inputs[0].b)
	assert.ElementsMatch(t, []string{"dev1 control-event s_far", "dev2 control-event s_op"}, forbidden.all())
	require.NoError(t, agent.Err(), "dropped reports leave the agent connected")

	view.Close()
	require.Eventually(t, func() bool { return len(aud.snapshot().leaves) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, aud.snapshot().leaves[0], "s_view: console disconnected")
	require.True(t, r.srv.EndSession("s_op", "stopped by an admin"))
	require.Eventually(t, func() bool { return len(aud.snapshot().leaves) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, "s_op: session ended: stopped by an admin", aud.snapshot().leaves[1])
}

// TestGrantChangeReachesAgent: a grant the periodic session check finds changed is sent to the
// console's agent once, the console's moves are judged by it from then on, its refreshed
// tokens carry it, and the registry records it. A grant announced from another node
// (RegrantSession) reaches the agent the same way.
func TestGrantChangeReachesAgent(t *testing.T) {
	g := &gate{live: map[string]bool{"s_1": true}}
	r := startRelayWith(t, func(c *Config) { c.Sessions = g; c.SessionCheckInterval = 30 * time.Millisecond })
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	console := r.console(t, r.tenantTokenAs(t, "user:op", "dev1", "s_1", 2*time.Second))
	fromAgent := pump(agent)

	g.set(func() { g.grants = map[string]wire.Grant{"s_1": wire.GrantView} })
	var gc wire.GrantChange
	require.NoError(t, wire.DecodeData(recvFrom(t, fromAgent, wire.TypeGrant, "s_1"), &gc))
	assert.Equal(t, wire.GrantView, gc.Grant)
	info, err := r.srv.cfg.Registry.Session(context.Background(), "s_1")
	require.NoError(t, err)
	assert.Equal(t, wire.GrantView, info.Grant)
	require.NoError(t, console.Send(wire.TypeControl, "s_1", wire.Control{Action: wire.ControlRequest}))
	assert.Equal(t, wire.CodeForbidden, recvError(t, console).Code)

	tok := recvType(t, console, wire.TypeToken)
	var refresh wire.TokenRefresh
	require.NoError(t, wire.DecodeData(tok, &refresh))
	claims, err := r.issuer.Verify(refresh.Token, auth.AudienceConsole)
	require.NoError(t, err)
	assert.Equal(t, wire.GrantView, claims.Grant, "a reconnect uses the grant of now")

	// Another node sharing the bus and registry announces the next change.
	node2, err := NewServer(Config{Bus: r.bus, Registry: r.srv.cfg.Registry, Issuer: r.issuer})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, node2.Close()) })
	g.set(func() { g.grants["s_1"] = wire.GrantAdmin }) // what the store says now, as the periodic check will see it
	require.Eventually(t, func() bool {
		// The notice may be published before this node subscribed; announcing again is harmless.
		require.NoError(t, node2.RegrantSession(context.Background(), "s_1", wire.GrantAdmin))
		return await(fromAgent, wire.TypeGrant, "s_1", 100*time.Millisecond)
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, console.Send(wire.TypeControl, "s_1", wire.Control{Action: wire.ControlTake}))
	assert.True(t, await(fromAgent, wire.TypeControl, "s_1", 5*time.Second), "an admin's take reaches the agent")
	assert.False(t, await(fromAgent, wire.TypeGrant, "s_1", 200*time.Millisecond), "an unchanged grant is not sent again")
	require.NoError(t, node2.RegrantSession(context.Background(), "s_nobody", wire.GrantView), "no console: nothing to do")
	assert.Error(t, node2.RegrantSession(context.Background(), "s_1", "root"))
}

// recvFrom waits for a message of type want for sid on a pumped channel.
func recvFrom(t *testing.T, ch <-chan wire.Envelope, want wire.Type, sid string) wire.Envelope {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			require.True(t, ok, "the connection closed waiting for %s", want)
			if e.Type == want && e.SID == sid {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s for %s", want, sid)
		}
	}
}

// TestReportBudget: each session's reports are allowed a burst, then one a second; budgets
// of other sessions are their own; idle budgets are forgotten once many are kept.
func TestReportBudget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newReportBudget(func() time.Time { return now })
	for i := range reportBurst {
		require.True(t, b.allow("s_1"), "report %d", i)
	}
	assert.False(t, b.allow("s_1"), "over the burst")
	assert.True(t, b.allow("s_2"), "another session has its own")
	now = now.Add(time.Second)
	assert.True(t, b.allow("s_1"), "one more a second later")
	assert.False(t, b.allow("s_1"))

	for i := range reportSessions {
		b.allow("s_x" + string(rune('a'+i%26)) + strings.Repeat("z", i/26))
	}
	now = now.Add(time.Minute)
	b.allow("s_new")
	assert.LessOrEqual(t, len(b.bySID), 2, "refilled budgets are forgotten")
	assert.True(t, b.warn())
	assert.False(t, b.warn(), "at most one warning a second")
}

// TestGrantsAreNeverDropped: a grant message starts with grantPrefix, which forwardToAgent
// lets past a nearly full agent outbox; a console's message, forwarded in the relay's own
// encoding, never does, whatever bytes the console sent (duplicate keys included).
func TestGrantsAreNeverDropped(t *testing.T) {
	msg, err := wire.Encode(wire.TypeGrant, "s_1", wire.GrantChange{Grant: wire.GrantView})
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(msg, grantPrefix), "%s", msg)

	forged := []byte(`{"v":1,"type":"grant","type":"candidate","sid":"s_1","data":{"candidate":""}}`)
	env, err := wire.Decode(forged)
	require.NoError(t, err, "Go's decoder takes the last of duplicate keys")
	require.Equal(t, wire.TypeCandidate, env.Type)
	out, err := canonical(env)
	require.NoError(t, err)
	assert.False(t, bytes.HasPrefix(out, grantPrefix), "%s", out)
	assert.True(t, bytes.HasPrefix(out, []byte(`{"v":1,"type":"candidate"`)), "%s", out)
}

// TestGuestsNamedBySession: the guests of one share link are one principal
// ("guest:<share id>") under the names they gave; each console is named by its session, so
// the agent announces each guest by their own name.
func TestGuestsNamedBySession(t *testing.T) {
	g := &gate{live: map[string]bool{"s_g1": true, "s_g2": true},
		grants: map[string]wire.Grant{"s_g1": wire.GrantView, "s_g2": wire.GrantView}}
	r := startRelayWith(t, func(c *Config) {
		c.Sessions = g
		c.Names = names{"s_g1": "Jane (guest)", "s_g2": "Joe (guest)", "guest:sh1": "guest"}
	})
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	for _, tc := range []struct{ sid, name string }{{"s_g1", "Jane (guest)"}, {"s_g2", "Joe (guest)"}} {
		c := r.console(t, r.tenantTokenAs(t, "guest:sh1", "dev1", tc.sid, time.Minute))
		require.NoError(t, c.Send(wire.TypeJoin, tc.sid, wire.Join{Codecs: []string{"video/VP8"}}))
		var ss wire.SessionStart
		require.NoError(t, wire.DecodeData(recvFor(t, agent, wire.TypeSessionStart, tc.sid), &ss))
		assert.Equal(t, tc.name, ss.Name)
		assert.Equal(t, wire.GrantView, ss.Grant)
	}
}
