package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/relay/fanout"
	"github.com/kvmrelay/kvmrelay/sfu"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestLeads: a node records a device when it holds its stream, or nobody does.
func TestLeads(t *testing.T) {
	tests := []struct {
		self, holder string
		want         bool
	}{
		{self: "n_a", holder: "", want: true},
		{self: "n_a", holder: "n_a", want: true},
		{self: "n_a", holder: "n_b", want: false},
		{self: "", holder: "", want: true}, // alone
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, leads(tt.self, tt.holder), "self %q holder %q", tt.self, tt.holder)
	}
}

// fakeStreams is a hub whose machine another node (holder) holds.
type fakeStreams struct {
	self   string
	holder string
}

func (f fakeStreams) Acquire(context.Context, fanout.Machine) (*sfu.Forwarder, func(), error) {
	return nil, nil, errors.New("no stream in this test")
}
func (f fakeStreams) Holder(context.Context, fanout.Machine) (string, error) { return f.holder, nil }
func (f fakeStreams) Holding(fanout.Machine) bool                            { return f.holder == f.self }
func (f fakeStreams) Node() string                                           { return f.self }

// fakeCatalogue counts policy lookups; the policy is off.
type fakeCatalogue struct {
	mu     sync.Mutex
	begins int
	refuse error // Begin's answer when set
}

func (c *fakeCatalogue) Begin(context.Context, string, string) (recordings.Plan, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begins++
	return recordings.Plan{}, c.refuse
}

func (c *fakeCatalogue) Fail(context.Context, string, string, error) (store.Recording, error) {
	return store.Recording{}, nil
}

func (c *fakeCatalogue) Finish(context.Context, string, string, recording.Summary, []store.Participant) (store.Recording, error) {
	return store.Recording{}, nil
}

func (c *fakeCatalogue) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.begins
}

// fakeRecorderBus keeps what is published.
type fakeRecorderBus struct {
	mu  sync.Mutex
	msg []signaling.RecordingMessage
}

func (b *fakeRecorderBus) PublishRecording(_ context.Context, device string, m signaling.RecordingMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if device == "dev1" {
		b.msg = append(b.msg, m)
	}
	return nil
}

func (b *fakeRecorderBus) SubscribeRecording(ctx context.Context, _ string) (<-chan []byte, error) {
	return make(chan []byte), nil
}

func (b *fakeRecorderBus) kinds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.msg {
		out = append(out, m.Kind)
	}
	return out
}

func (b *fakeRecorderBus) find(kind string) (signaling.RecordingMessage, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msg {
		if m.Kind == kind {
			return m, true
		}
	}
	return signaling.RecordingMessage{}, false
}

// nopAuditor audits nothing.
type nopAuditor struct{}

func (nopAuditor) ConsoleJoined(context.Context, signaling.SessionInfo) error       { return nil }
func (nopAuditor) ConsoleLeft(context.Context, signaling.SessionInfo, string) error { return nil }
func (nopAuditor) ControlMoved(context.Context, signaling.SessionInfo, signaling.SessionInfo, wire.RosterEvent) error {
	return nil
}
func (nopAuditor) InputSent(context.Context, signaling.SessionInfo, wire.InputBurst) error {
	return nil
}

func newTestRecorder(streams fakeStreams) (*sessionRecorder, *fakeCatalogue, *fakeRecorderBus) {
	r := newSessionRecorder(nopAuditor{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	cat, bus := &fakeCatalogue{}, &fakeRecorderBus{}
	r.start(streams, nil, nil, bus)
	r.mu.Lock()
	r.svc = cat
	r.mu.Unlock()
	return r, cat, bus
}

// TestRecorderForwards: a node whose device's stream another node holds records nothing and
// asks no policy: it forwards its consoles' joins, leaves and snapshots, and the control
// events, input bursts and keys it sees (also of a device it has no console of: the agent's
// node), with their time, to the recorder.
func TestRecorderForwards(t *testing.T) {
	r, cat, bus := newTestRecorder(fakeStreams{self: "n_b", holder: "n_a"})
	ctx := context.Background()
	info := signaling.SessionInfo{SID: "s_1", Device: "dev1", Tenant: "org1", Principal: "user:1", Name: "Ann", Grant: wire.GrantControl}

	require.NoError(t, r.ControlMoved(ctx, info, info, wire.RosterEvent{Kind: "granted", Subject: "s_1"}), "before any console here")
	require.NoError(t, r.ConsoleJoined(ctx, info))
	before := time.Now()
	require.NoError(t, r.InputSent(ctx, info, wire.InputBurst{Keys: 3}))
	r.KeysTyped(ctx, info, wire.Keys{Strokes: []wire.KeyStroke{{T: 1, Usage: 4, Down: true}}})
	require.Eventually(t, func() bool { _, ok := bus.find(signaling.RecordingSnapshot); return ok }, 5*time.Second, 10*time.Millisecond,
		"a snapshot of this node's consoles")
	require.NoError(t, r.ConsoleLeft(ctx, info, "bye"))
	require.Eventually(t, func() bool {
		k := bus.kinds()
		return len(k) > 0 && k[len(k)-1] == signaling.RecordingSnapshot && len(k) >= 7
	}, 5*time.Second, 10*time.Millisecond, "the last snapshot, empty: %v", bus.kinds())
	r.close()

	assert.Equal(t, 0, cat.count(), "a node that does not record asks no policy")
	// Snapshots go out on the device loop's own tick, so one may fall between any two events
	// after the join; the events keep their order, and the last message is the empty snapshot.
	var events []string
	for _, k := range bus.kinds() {
		if k != signaling.RecordingSnapshot {
			events = append(events, k)
		}
	}
	assert.Equal(t, []string{"control", "joined", "input", "keys", "left"}, events)
	joined, _ := bus.find(signaling.RecordingJoined)
	assert.Equal(t, &signaling.RecordingConsole{SID: "s_1", Name: "Ann", Principal: "user:1", Grant: wire.GrantControl}, joined.Console)
	assert.Equal(t, "org1", joined.Tenant)
	input, _ := bus.find(signaling.RecordingInput)
	require.NotNil(t, input.Burst)
	assert.Equal(t, 3, input.Burst.Keys)
	assert.False(t, input.At.Before(before), "the event's own time")
	keys, _ := bus.find(signaling.RecordingKeys)
	require.NotNil(t, keys.Keys)
	assert.Len(t, keys.Keys.Strokes, 1)
	snap, _ := bus.find(signaling.RecordingSnapshot)
	assert.Len(t, snap.Consoles, 1)
	last := bus.msg[len(bus.msg)-1]
	assert.Empty(t, last.Consoles, "no console left on this node")
}

// TestRecorderPolicyOnce: the node that would record (nobody holds the stream) asks the
// policy once per device session, however many consoles join and snapshots pass; off, it
// records nothing and forwards like any other node.
func TestRecorderPolicyOnce(t *testing.T) {
	r, cat, bus := newTestRecorder(fakeStreams{self: "n_a"})
	ctx := context.Background()
	for _, sid := range []string{"s_1", "s_2", "s_3"} {
		require.NoError(t, r.ConsoleJoined(ctx, signaling.SessionInfo{SID: sid, Device: "dev1", Tenant: "org1"}))
	}
	require.Eventually(t, func() bool { return cat.count() == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(signaling.RecordingSnapshotEvery + 500*time.Millisecond) // a step passes
	assert.Equal(t, 1, cat.count(), "asked once")
	_, snap := bus.find(signaling.RecordingSnapshot)
	assert.True(t, snap, "not recording: it forwards")
	for _, sid := range []string{"s_1", "s_2", "s_3"} {
		require.NoError(t, r.ConsoleLeft(ctx, signaling.SessionInfo{SID: sid, Device: "dev1", Tenant: "org1"}, "bye"))
	}
	require.NoError(t, r.ConsoleJoined(ctx, signaling.SessionInfo{SID: "s_4", Device: "dev1", Tenant: "org1"}))
	require.Eventually(t, func() bool { return cat.count() == 2 }, 5*time.Second, 10*time.Millisecond, "a new device session asks again")
	r.close()
}

// fakeStopper records the devices whose consoles the recorder ended.
type fakeStopper struct {
	mu      sync.Mutex
	reasons []string
}

func (f *fakeStopper) StopDevice(_ context.Context, _, _, _, reason string, _ func(store.ConsoleSession) bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reasons = append(f.reasons, reason)
	return 1, nil
}

func (f *fakeStopper) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reasons)
}

// TestRecorderRequiredRefusalEndsLateJoiners: under "required", a refused recording ends the
// device's consoles, and so a console that joins before the last of them is gone: it must not
// watch unrecorded in the gap. Once every console has gone, the next one asks the policy anew.
func TestRecorderRequiredRefusalEndsLateJoiners(t *testing.T) {
	r, cat, _ := newTestRecorder(fakeStreams{self: "n_a"})
	stop := &fakeStopper{}
	r.mu.Lock()
	r.stopper = stop
	cat.refuse = &recordings.Refusal{Msg: "recording required and the storage is unwritable"}
	r.mu.Unlock()
	ctx := context.Background()
	join := func(sid string) {
		require.NoError(t, r.ConsoleJoined(ctx, signaling.SessionInfo{SID: sid, Device: "dev1", Tenant: "org1"}))
	}
	join("s_1")
	require.Eventually(t, func() bool { return stop.count() == 1 }, 5*time.Second, 10*time.Millisecond, "the refusal ends the consoles")
	join("s_2") // before s_1 has gone
	require.Eventually(t, func() bool { return stop.count() == 2 }, 5*time.Second, 10*time.Millisecond, "a late joiner is ended too")
	assert.Equal(t, 1, cat.count(), "the policy is not asked again while the refused consoles remain")
	stop.mu.Lock()
	assert.Equal(t, []string{"recording required and the storage is unwritable", "recording required and the storage is unwritable"}, stop.reasons)
	stop.mu.Unlock()
	for _, sid := range []string{"s_1", "s_2"} {
		require.NoError(t, r.ConsoleLeft(ctx, signaling.SessionInfo{SID: sid, Device: "dev1", Tenant: "org1"}, "ended"))
	}
	join("s_3")
	require.Eventually(t, func() bool { return cat.count() == 2 }, 5*time.Second, 10*time.Millisecond, "a new device session asks again")
	r.close()
}
