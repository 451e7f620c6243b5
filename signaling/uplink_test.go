package signaling

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestConsoleCannotMakeAnUplink: only the relay starts a session of another kind (an uplink
// with no input and off the roster, or a console without the agent's video). A console's
// session-start, or a join that names a kind, never reaches the agent; a plain join becomes
// a session-start of the console kind (no uplink, video absent: true).
func TestConsoleCannotMakeAnUplink(t *testing.T) {
	r := startRelay(t)
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	// One reader for the agent's connection; it ends when the relay's cleanup closes it.
	toAgent := make(chan wire.Envelope, 64)
	go func() {
		defer close(toAgent)
		for {
			e, err := agent.Recv()
			if err != nil {
				return
			}
			toAgent <- e
		}
	}()
	nextStart := func(within time.Duration) (wire.Envelope, bool) {
		deadline := time.After(within)
		for {
			select {
			case e, ok := <-toAgent:
				if !ok {
					return wire.Envelope{}, false
				}
				if e.Type == wire.TypeSessionStart {
					return e, true
				}
			case <-deadline:
				return wire.Envelope{}, false
			}
		}
	}
	tests := []struct {
		name string
		msg  string
	}{
		{"session-start", `{"v":1,"type":"session-start","sid":"%s","data":{"ice_servers":[],"codecs":["video/H264"],"principal":"relay","uplink":true}}`},
		{"join naming an uplink", `{"v":1,"type":"join","sid":"%s","data":{"codecs":["video/H264"],"uplink":true}}`},
		{"join without video", `{"v":1,"type":"join","sid":"%s","data":{"codecs":["video/H264"],"video":false}}`},
		{"join with a duplicate type", `{"v":1,"type":"join","type":"session-start","sid":"%s","data":{"codecs":["video/H264"],"uplink":true}}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := fmt.Sprintf("s_up%d", i)
			console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", sid), r.origin())
			require.NoError(t, err)
			recvType(t, console, wire.TypeWelcome)
			waitOnline(t, console)
			require.NoError(t, console.SendRaw([]byte(fmt.Sprintf(tt.msg, sid))))
			recvType(t, console, wire.TypeError)
			// Whatever reaches the agent (a bye when the relay closes the console) is no
			// session-start.
			env, got := nextStart(300 * time.Millisecond)
			assert.False(t, got, "a console's message became a session-start: %s", env.Data)
		})
	}
	t.Run("plain join is a console session", func(t *testing.T) {
		console, err := r.dial(t, "/ws/console", r.consoleToken(t, "dev1", "s_plain"), r.origin())
		require.NoError(t, err)
		recvType(t, console, wire.TypeWelcome)
		waitOnline(t, console)
		require.NoError(t, console.Send(wire.TypeJoin, "s_plain", wire.Join{Codecs: []string{"video/H264"}}))
		env, got := nextStart(5 * time.Second)
		require.True(t, got, "the join reached the agent")
		var ss wire.SessionStart
		require.NoError(t, wire.DecodeData(env, &ss))
		assert.False(t, ss.Uplink)
		assert.Nil(t, ss.Video)
		assert.True(t, ss.WantsVideo())
	})
}

// TestStartUplink: the relay's uplink reaches the agent as a session-start of its own kind,
// the agent's messages for it come back to it through the usual checks, and once closed the
// agent is told and can no longer address it.
func TestStartUplink(t *testing.T) {
	r := startRelay(t)
	ctx := context.Background()
	_, err := r.srv.StartUplink(ctx, UplinkTarget{Device: "dev1"})
	require.ErrorIs(t, err, ErrAgentOffline)

	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		on, err := r.srv.cfg.Registry.AgentOnline(ctx, "dev1")
		return err == nil && on
	}, 5*time.Second, 10*time.Millisecond)
	u, err := r.srv.StartUplink(ctx, UplinkTarget{Device: "dev1", Codecs: []string{"video/VP8"}})
	require.NoError(t, err)
	defer u.Close()
	assert.True(t, strings.HasPrefix(u.SID(), wire.UplinkSIDPrefix))

	env := recvType(t, agent, wire.TypeSessionStart)
	assert.Equal(t, u.SID(), env.SID)
	var ss wire.SessionStart
	require.NoError(t, wire.DecodeData(env, &ss))
	assert.True(t, ss.Uplink)
	assert.Equal(t, []string{"video/VP8"}, ss.Codecs)
	assert.Equal(t, UplinkPrincipal, ss.Principal)

	require.NoError(t, agent.Send(wire.TypeOffer, u.SID(), wire.SDP{SDP: testSDP(1)}))
	select {
	case got := <-u.Messages():
		assert.Equal(t, wire.TypeOffer, got.Type)
	case <-time.After(5 * time.Second):
		t.Fatal("the agent's offer did not reach the uplink")
	}
	require.NoError(t, u.Send(ctx, wire.TypeAnswer, wire.SDP{SDP: testSDP(1)}))
	assert.Equal(t, u.SID(), recvType(t, agent, wire.TypeAnswer).SID)

	u.Close()
	assert.Equal(t, u.SID(), recvType(t, agent, wire.TypeBye).SID)
	require.NoError(t, agent.Send(wire.TypeOffer, u.SID(), wire.SDP{SDP: testSDP(1)}))
	e := recvType(t, agent, wire.TypeError)
	var em wire.ErrorMessage
	require.NoError(t, wire.DecodeData(e, &em))
	assert.Equal(t, wire.CodeForbidden, em.Code, "a closed uplink is no session of the device")
}
