package signaling

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// keysPolicy is a KeyCapture over a switch, or failing.
type keysPolicy struct {
	mu      sync.Mutex
	capture bool
	err     error
}

func (p *keysPolicy) CapturesKeys(_ context.Context, tenant string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.capture && tenant == "org1", p.err
}

func (p *keysPolicy) set(capture bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.capture, p.err = capture, err
}

// typedKeys records what a KeyRecorder is handed.
type typedKeys struct {
	mu  sync.Mutex
	got []keysIn
}

type keysIn struct {
	info SessionInfo
	k    wire.Keys
}

func (r *typedKeys) KeysTyped(_ context.Context, info SessionInfo, k wire.Keys) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, keysIn{info, k})
}

func (r *typedKeys) all() []keysIn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]keysIn(nil), r.got...)
}

// syncBuffer is a log destination tests read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestKeysCaptureAsked: session-start asks the agent for a console's keys exactly when the
// console's organization captures them; a console without an organization, a failed lookup
// and capture off ask for none.
func TestKeysCaptureAsked(t *testing.T) {
	g := &gate{live: map[string]bool{"s_1": true, "s_2": true, "s_3": true}}
	policy := &keysPolicy{capture: true}
	r := startRelayWith(t, func(c *Config) { c.Sessions, c.KeyCapture, c.Keys = g, policy, &typedKeys{} })
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)

	startOf := func(c *sigclient.Client, sid string) wire.SessionStart {
		t.Helper()
		require.NoError(t, c.Send(wire.TypeJoin, sid, wire.Join{Codecs: []string{"video/VP8"}}))
		var ss wire.SessionStart
		require.NoError(t, wire.DecodeData(recvFor(t, agent, wire.TypeSessionStart, sid), &ss))
		return ss
	}
	tenant := r.console(t, r.tenantTokenAs(t, "user:op", "dev1", "s_1", time.Minute))
	assert.True(t, startOf(tenant, "s_1").CaptureKeys, "the organization captures keys")
	plain := r.console(t, r.consoleToken(t, "dev1", "s_plain"))
	assert.False(t, startOf(plain, "s_plain").CaptureKeys, "no organization: nothing captured")

	policy.set(false, nil)
	assert.False(t, startOf(tenant, "s_1").CaptureKeys, "capture off: a re-join asks for none")
	policy.set(true, errors.New("store down"))
	assert.False(t, startOf(tenant, "s_1").CaptureKeys, "policy unknown: nothing captured")
}

// TestKeysReported: an agent's keys batch for a session it carries reaches the KeyRecorder
// with the session the relay holds; one out of bounds is dropped, one for another device's
// session is forbidden, one over the session's budget is throttled; the agent stays
// connected, and no key reaches the log.
func TestKeysReported(t *testing.T) {
	g := &gate{live: map[string]bool{"s_op": true, "s_far": true}}
	rec := &typedKeys{}
	forbidden := &forbiddenRecorder{}
	logs := &syncBuffer{}
	r := startRelayWith(t, func(c *Config) {
		c.Sessions, c.KeyCapture, c.Keys, c.OnForbidden = g, &keysPolicy{capture: true}, rec, forbidden.record
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	agent, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev1"), "")
	require.NoError(t, err)
	far, err := r.dial(t, "/ws/agent", r.agentToken(t, "dev2"), "")
	require.NoError(t, err)
	r.console(t, r.tenantTokenAs(t, "user:op", "dev1", "s_op", time.Minute))
	r.console(t, r.tenantTokenAs(t, "user:far", "dev2", "s_far", time.Minute))

	// 0x1337 is no usage anyone types: a trace of it as a value in the log is a key leaking.
	const secret = 0x1337
	keys := wire.Keys{Strokes: []wire.KeyStroke{{T: 1_700_000_000_000, Usage: secret, Down: true}, {T: 1_700_000_000_050, Usage: secret}}, Dropped: 2}
	require.NoError(t, agent.Send(wire.TypeKeys, "s_op", keys))
	require.NoError(t, agent.Send(wire.TypeKeys, "s_op", wire.Keys{Strokes: []wire.KeyStroke{{T: 2, Usage: secret}, {T: 1, Usage: secret}}}))
	require.NoError(t, agent.Send(wire.TypeKeys, "s_far", keys))
	require.Eventually(t, func() bool { return len(forbidden.all()) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"dev1 keys s_far"}, forbidden.all())
	require.NoError(t, far.Send(wire.TypeKeys, "s_far", keys))
	require.Eventually(t, func() bool { return len(rec.all()) == 2 }, 5*time.Second, 10*time.Millisecond)

	got := rec.all()
	assert.Equal(t, "s_op", got[0].info.SID)
	assert.Equal(t, "user:op", got[0].info.Principal, "the session the relay holds")
	assert.Equal(t, keys, got[0].k)
	assert.Equal(t, "s_far", got[1].info.SID)

	for range keysBurst + 5 {
		require.NoError(t, agent.Send(wire.TypeKeys, "s_op", keys))
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(r.srv.metrics.Messages.WithLabelValues("agent", string(wire.TypeKeys), "throttled")) > 0
	}, 5*time.Second, 10*time.Millisecond, "a flood of keys is throttled")
	assert.Less(t, len(rec.all()), keysBurst+7)
	require.NoError(t, agent.Err(), "the agent stays connected")

	text := logs.String()
	assert.Contains(t, text, "dropped=2", "the agent's lost keys are told, as a count")
	for _, leak := range []string{"=" + strconv.Itoa(secret), ":" + strconv.Itoa(secret), "usage", "strokes"} {
		assert.NotContains(t, text, leak, "no key in the log")
	}
}
