package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// agentMessage reads the agent's messages until one of type t for session sid.
func agentMessage(t *testing.T, agent *sigclient.Client, typ wire.Type, sid string) wire.Envelope {
	t.Helper()
	for {
		e, err := recvWithin(t, agent)
		require.NoError(t, err)
		if e.Type == typ && e.SID == sid {
			return e
		}
	}
}

// receivedGrant reads the agent's messages until a grant for sid, and returns it.
func receivedGrant(t *testing.T, agent *sigclient.Client, sid string) wire.Grant {
	t.Helper()
	var g wire.GrantChange
	require.NoError(t, wire.DecodeData(agentMessage(t, agent, wire.TypeGrant, sid), &g))
	return g.Grant
}

// testRegrant: a console's session-start carries its grant and its principal's name; an
// operator lowered to viewer keeps the console, its agent is told the new grant at once (the
// change made on node A, the console on the last node), and its moves of control are refused
// at the relay from then on; raised again, they reach the agent.
func testRegrant(t *testing.T, w *rightsWorld) {
	s := w.subject(t, "rack-shared", false)
	live := w.openConsole(t, s)
	require.NoError(t, live.conn.Send(wire.TypeJoin, live.sid, wire.Join{Codecs: []string{"video/VP8"}}))
	var start wire.SessionStart
	require.NoError(t, wire.DecodeData(agentMessage(t, s.agent, wire.TypeSessionStart, live.sid), &start))
	assert.Equal(t, wire.GrantControl, start.Grant)
	assert.Equal(t, "rack-shared@acme.example", start.Name, "the name the other participants see, from the store")
	assert.Equal(t, s.principal, start.Principal)

	w.api(t, "PATCH", "/users/"+s.userID, map[string]any{"role": "viewer"})
	assert.Equal(t, wire.GrantView, receivedGrant(t, s.agent, live.sid), "told at once, not at the next session check")
	assert.Equal(t, store.SessionActive, w.storedSession(t, live.sid).Current, "a viewer keeps watching")

	require.NoError(t, live.conn.Send(wire.TypeControl, live.sid, wire.Control{Action: wire.ControlRequest}))
	m := nextError(t, live.conn)
	assert.Equal(t, wire.CodeForbidden, m.Code)
	assert.Equal(t, "You are watching: your role does not allow control.", m.Message)

	w.api(t, "PATCH", "/users/"+s.userID, map[string]any{"role": "operator"})
	assert.Equal(t, wire.GrantControl, receivedGrant(t, s.agent, live.sid))
	require.NoError(t, live.conn.Send(wire.TypeControl, live.sid, wire.Control{Action: wire.ControlRequest}))
	var mv wire.Control
	require.NoError(t, wire.DecodeData(agentMessage(t, s.agent, wire.TypeControl, live.sid), &mv))
	assert.Equal(t, wire.Control{Action: wire.ControlRequest}, mv)
}

// TestRegrant: grants on one relay node.
func TestRegrant(t *testing.T) { testRegrant(t, newRightsWorld(t, 1)) }

// TestRegrantAcrossNodes: the change is made on node A, the console is on node B, and the
// agent on node A hears the grant from node B, through Redis.
func TestRegrantAcrossNodes(t *testing.T) { testRegrant(t, newRightsWorld(t, 2)) }

// auditOf returns the records of action in w's organization, verifying the chain.
func (w *rightsWorld) auditOf(t *testing.T, action store.AuditAction) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	for _, r := range w.a.audit(t) {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// TestSharedSessionAudited: a console joining and leaving its machine, the moves of control
// its agent reports and the input it attributes land in the organization's audit chain with
// the principals the relay holds for the sessions — whatever the agent claims — and an agent
// cannot report for a session it does not carry, nor flood the chain.
func TestSharedSessionAudited(t *testing.T) {
	w := newRightsWorld(t, 1)
	ctx := context.Background()
	s := w.subject(t, "rack-audit", false)
	first := w.openConsole(t, s)

	// A viewer of the same machine joins too.
	var viewerID string
	require.NoError(t, w.a.Store().Write(ctx, w.a.org, func(tx store.Tx) error {
		u, err := tx.CreateUser(ctx, store.User{Email: "vera@acme.example", Role: store.RoleViewer, CreatedAt: time.Now()})
		viewerID = u.ID
		return err
	}))
	second := w.openConsole(t, &subject{principal: "user:" + viewerID, userID: viewerID, device: s.device, agent: s.agent})

	joins := w.auditOf(t, store.AuditConsoleJoin)
	require.Len(t, joins, 2)
	assert.Equal(t, map[string]string{"session": first.sid, "grant": "control"}, joins[0].Details)
	assert.Equal(t, s.principal, joins[0].Actor)
	assert.Equal(t, map[string]string{"session": second.sid, "grant": "view"}, joins[1].Details, "admitted with the grant its role gives, whatever its link said")
	assert.Equal(t, "user:"+viewerID, joins[1].Actor)

	// The viewer asks for control: it may not. Then the operator asks and the agent decides.
	require.NoError(t, second.conn.Send(wire.TypeControl, second.sid, wire.Control{Action: wire.ControlRequest}))
	assert.Equal(t, wire.CodeForbidden, nextError(t, second.conn).Code)
	require.NoError(t, s.agent.Send(wire.TypeControlEvent, first.sid, wire.RosterEvent{Kind: wire.EventGranted}))
	require.NoError(t, s.agent.Send(wire.TypeControlEvent, second.sid, wire.RosterEvent{Kind: wire.EventRegranted, Reason: "role lowered"}))
	now := time.Now()
	digest := strings.Repeat("ab", 32)
	require.NoError(t, s.agent.Send(wire.TypeInputBurst, first.sid, wire.InputBurst{From: now.Add(-time.Minute).UnixMilli(), To: now.UnixMilli(),
		Keys: 12, Pointer: 3, Digest: digest, Final: true}))
	// The agent says the viewer passed control to the operator: the actor is the viewer's
	// principal as the relay knows it.
	require.NoError(t, s.agent.Send(wire.TypeControlEvent, first.sid, wire.RosterEvent{Kind: wire.EventGranted, By: second.sid}))

	// Another machine's session is not the agent's to report on.
	other := w.subject(t, "rack-other", false)
	foreign := w.openConsole(t, other)
	require.NoError(t, s.agent.Send(wire.TypeControlEvent, foreign.sid, wire.RosterEvent{Kind: wire.EventRequested}))
	assert.Equal(t, wire.CodeForbidden, nextError(t, s.agent).Code)
	require.NoError(t, s.agent.Send(wire.TypeInputBurst, foreign.sid, wire.InputBurst{From: 1, To: 2, Digest: digest}))
	assert.Equal(t, wire.CodeForbidden, nextError(t, s.agent).Code)
	require.NoError(t, s.agent.Send(wire.TypeControlEvent, first.sid, wire.RosterEvent{Kind: wire.EventTaken, By: foreign.sid}))

	require.Eventually(t, func() bool {
		return len(w.auditOf(t, store.AuditConsoleControl)) >= 3 && len(w.auditOf(t, store.AuditConsoleInput)) >= 1
	}, 5*time.Second, 20*time.Millisecond)
	controls := w.auditOf(t, store.AuditConsoleControl)
	require.Len(t, controls, 3, "the move naming another machine's session is not audited")
	assert.Equal(t, s.principal, controls[0].Actor, "granted when free: the subject's own request")
	assert.Equal(t, map[string]string{"session": first.sid, "kind": "granted", "subject": s.principal}, controls[0].Details)
	assert.Equal(t, "system", controls[1].Actor)
	assert.Equal(t, map[string]string{"session": second.sid, "kind": "regranted", "subject": "user:" + viewerID, "reason": "role lowered"}, controls[1].Details)
	assert.Equal(t, "user:"+viewerID, controls[2].Actor)
	assert.Equal(t, "vera@acme.example", controls[2].ActorName)
	assert.Equal(t, map[string]string{"session": first.sid, "kind": "granted", "subject": s.principal,
		"by": "user:" + viewerID, "by_session": second.sid}, controls[2].Details)
	inputs := w.auditOf(t, store.AuditConsoleInput)
	require.Len(t, inputs, 1)
	assert.Equal(t, s.principal, inputs[0].Actor)
	assert.Equal(t, "device:"+s.device.ID, inputs[0].Target)
	assert.Equal(t, "12", inputs[0].Details["keys"])
	assert.Equal(t, digest, inputs[0].Details["digest"])
	assert.Equal(t, time.UnixMilli(now.UnixMilli()).UTC().Format(time.RFC3339Nano), inputs[0].Details["to"])
	var attempts int
	for _, d := range w.auditOf(t, store.AuditAccessDenied) {
		if d.Actor == "user:"+viewerID && d.Details["message"] == string(wire.TypeControl) {
			attempts++
		}
	}
	assert.Equal(t, 1, attempts, "the viewer's attempt at control is audited")

	// A flood of reports is cut at the budget: the chain gets at most the burst.
	before := len(w.auditOf(t, store.AuditConsoleControl))
	for range 200 {
		require.NoError(t, s.agent.Send(wire.TypeControlEvent, first.sid, wire.RosterEvent{Kind: wire.EventReleased}))
	}
	// The agent's messages are handled in order: the refusal of the next one says the flood
	// has been dealt with.
	require.NoError(t, s.agent.Send(wire.TypeCandidate, foreign.sid, wire.Candidate{}))
	assert.Equal(t, wire.CodeForbidden, nextError(t, s.agent).Code)
	flood := len(w.auditOf(t, store.AuditConsoleControl)) - before
	assert.LessOrEqual(t, flood, 30, "at most a burst, with what refilled meanwhile")
	assert.Positive(t, flood)

	second.conn.Close()
	require.Eventually(t, func() bool { return len(w.auditOf(t, store.AuditConsoleLeave)) == 1 }, 5*time.Second, 20*time.Millisecond)
	leave := w.auditOf(t, store.AuditConsoleLeave)[0]
	assert.Equal(t, "user:"+viewerID, leave.Actor)
	assert.Equal(t, second.sid, leave.Details["session"])
	assert.Contains(t, leave.Details["reason"], "console disconnected")
}

// TestRedeemCarriesTheGrant: the console token a link is redeemed for carries the link's grant,
// and so does the answer the console reads it from; a link from before grants means control.
func TestRedeemCarriesTheGrant(t *testing.T) {
	r := startRelay(t, false)
	for _, g := range []wire.Grant{wire.GrantView, wire.GrantControl, wire.GrantAdmin} {
		link, err := ConsoleLinkWithGrant(r.Issuer(), r.URL(), "dev1", "alice", g)
		require.NoError(t, err)
		status, out := redeem(t, r, `{"code":"`+link[strings.Index(link, "#code=")+len("#code="):]+`"}`)
		require.Equal(t, 200, status, "%v", out)
		assert.Equal(t, string(g), out["grant"])
		claims, err := r.Issuer().Verify(out["token"].(string), auth.AudienceConsole)
		require.NoError(t, err)
		assert.Equal(t, g, claims.Grant)
	}
	tok, _, err := r.Issuer().Mint(auth.Claims{Subject: "alice", Audience: auth.AudienceLogin, Device: "dev1"}, time.Minute)
	require.NoError(t, err)
	status, out := redeem(t, r, `{"code":"`+tok+`"}`)
	require.Equal(t, 200, status, "%v", out)
	assert.Equal(t, "control", out["grant"])
	_, err = ConsoleLinkWithGrant(r.Issuer(), r.URL(), "dev1", "alice", "root")
	assert.Error(t, err)
}
