package relay

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/recording"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestKeyEvents: a batch becomes one timeline event per instant, strokes in order, placed by
// the relay's clock at the batch's arrival with the agent's spacing.
func TestKeyEvents(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k := wire.Keys{Strokes: []wire.KeyStroke{
		{T: 5_000, Usage: 0xE1, Down: true}, {T: 5_000, Usage: 0x0B, Down: true},
		{T: 5_080, Usage: 0x0B}, {T: 5_100, Usage: 0xE1},
	}}
	got := keyEvents("s_1", k, now)
	require.Len(t, got, 3)
	assert.Equal(t, []timedEvent{
		{at: now.Add(-100 * time.Millisecond), e: recording.Event{Kind: recording.KindKeys, SID: "s_1", Keys: []recording.KeyStroke{{Usage: 0xE1, Down: true}, {Usage: 0x0B, Down: true}}}},
		{at: now.Add(-20 * time.Millisecond), e: recording.Event{Kind: recording.KindKeys, SID: "s_1", Keys: []recording.KeyStroke{{Usage: 0x0B}}}},
		{at: now, e: recording.Event{Kind: recording.KindKeys, SID: "s_1", Keys: []recording.KeyStroke{{Usage: 0xE1}}}},
	}, got)
	assert.Empty(t, keyEvents("s_1", wire.Keys{}, now))
}

// TestKeysTypedDropped: keys for a device without a recording, or whose recording does not
// capture keys, are dropped and logged as a count; keys that come while the recording starts
// wait with its other events.
func TestKeysTypedDropped(t *testing.T) {
	var logs bytes.Buffer
	r := newSessionRecorder(controlAuditor{}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	k := wire.Keys{Strokes: []wire.KeyStroke{{T: 1_000, Usage: 0x1337, Down: true}}}
	info := signaling.SessionInfo{SID: "s_1", Device: "dev1"}

	r.KeysTyped(context.Background(), info, k)
	assert.Contains(t, logs.String(), "the device has no recording on this node")

	starting := &deviceRecording{cur: &recordingAttempt{ready: make(chan struct{})}}
	r.live["dev1"] = starting
	r.KeysTyped(context.Background(), info, k)
	require.Len(t, starting.cur.pending, 1, "kept until the recording is ready")
	assert.Equal(t, signaling.RecordingKeys, starting.cur.pending[0].Kind)

	ready := make(chan struct{})
	close(ready)
	r.live["dev1"] = &deviceRecording{cur: &recordingAttempt{ready: ready, plan: recordings.Plan{Record: true}}}
	logs.Reset()
	r.KeysTyped(context.Background(), info, k)
	assert.Contains(t, logs.String(), "the device's recording does not capture keys")
	assert.Contains(t, logs.String(), "count=1")
	assert.NotContains(t, logs.String(), "4919", "which key is never logged")
}
