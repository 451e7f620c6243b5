package recording

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// rtpPacketRef holds a packet in a test's reordered list.
type rtpPacketRef struct{ p *rtp.Packet }

// readTimeline parses a timeline file, one JSON object a line.
func readTimeline(t *testing.T, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "line %q", sc.Text())
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	return lines
}

func TestTimelineEvents(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start
	clock := func() time.Time { return now }
	digest := strings.Repeat("ab", 32)
	burst := &wire.InputBurst{From: start.UnixMilli(), To: start.UnixMilli() + 900, Keys: 12, Pointer: 3, Digest: digest, Final: true}
	control := &wire.RosterEvent{Kind: wire.EventGranted, Subject: "s1"}

	tests := []struct {
		name        string
		captureKeys bool
		event       Event
		want        error // nil: written
		wantAny     bool  // some error, no sentinel
	}{
		{name: "joined", event: Event{Kind: KindJoined, SID: "s1", Name: "Ada", Grant: wire.GrantControl}},
		{name: "left", event: Event{Kind: KindLeft, SID: "s1", Name: "Ada"}},
		{name: "control", event: Event{Kind: KindControl, Control: control}},
		{name: "input burst", event: Event{Kind: KindInputBurst, SID: "s1", Burst: burst}},
		{name: "keys captured", captureKeys: true, event: Event{Kind: KindKeys, SID: "s1", Keys: []KeyStroke{{Usage: 4, Down: true}, {TMS: 20, Usage: 4}}}},
		{name: "keys not captured", event: Event{Kind: KindKeys, SID: "s1", Keys: []KeyStroke{{Usage: 4, Down: true}}}, want: ErrKeysNotCaptured},
		{name: "keys smuggled in a burst", captureKeys: true, event: Event{Kind: KindInputBurst, Burst: burst, Keys: []KeyStroke{{Usage: 4}}}, wantAny: true},
		{name: "keys smuggled in a join", event: Event{Kind: KindJoined, SID: "s1", Keys: []KeyStroke{{Usage: 4}}}, wantAny: true},
		{name: "unknown kind", event: Event{Kind: "video"}, wantAny: true},
		{name: "join without session", event: Event{Kind: KindJoined, Name: "Ada"}, wantAny: true},
		{name: "bad grant", event: Event{Kind: KindJoined, SID: "s1", Grant: "root"}, wantAny: true},
		{name: "control of a join", event: Event{Kind: KindControl, Control: &wire.RosterEvent{Kind: wire.EventJoined, Subject: "s1"}}, wantAny: true},
		{name: "control without change", event: Event{Kind: KindControl}, wantAny: true},
		{name: "burst out of bounds", event: Event{Kind: KindInputBurst, Burst: &wire.InputBurst{From: 1, To: 0, Digest: digest}}, wantAny: true},
		{name: "no keys", captureKeys: true, event: Event{Kind: KindKeys}, wantAny: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRecorder(t, Config{CaptureKeys: tc.captureKeys, Now: clock})
			err := r.AddEvent(start.Add(1500*time.Millisecond), tc.event)
			s, cerr := r.Close()
			require.NoError(t, cerr)
			lines := readTimeline(t, s.Timeline.Path)
			require.GreaterOrEqual(t, len(lines), 2)
			assert.Equal(t, KindStart, lines[0].Kind)
			assert.Equal(t, KindEnd, lines[len(lines)-1].Kind)
			assert.Equal(t, len(lines), s.Events)
			switch {
			case tc.want != nil:
				require.ErrorIs(t, err, tc.want)
			case tc.wantAny:
				require.Error(t, err)
			default:
				require.NoError(t, err)
				require.Len(t, lines, 3)
				got := lines[1]
				assert.Equal(t, int64(1500), got.TMS)
				assert.Equal(t, tc.event, got.Event)
				return
			}
			assert.Len(t, lines, 2, "a refused event is not written")
			for _, l := range lines {
				assert.Empty(t, l.Keys)
			}
		})
	}
}

func TestTimelineFile(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start
	r := newTestRecorder(t, Config{ID: "sess-42", Now: func() time.Time { return now }})
	require.NoError(t, r.AddEvent(time.Time{}, Event{Kind: KindJoined, SID: "s1", Name: "Ada", Grant: wire.GrantAdmin}))
	now = now.Add(2 * time.Second)
	require.NoError(t, r.AddEvent(time.Time{}, Event{Kind: KindLeft, SID: "s1", Name: "Ada"}))
	require.NoError(t, r.AddEvent(start.Add(-time.Second), Event{Kind: KindJoined, SID: "s0"}), "an event from before the start")
	now = now.Add(time.Second)
	s, err := r.Close()
	require.NoError(t, err)
	assert.Equal(t, start, s.Started)
	assert.Equal(t, now, s.Ended)
	assert.Zero(t, s.Frames)
	assert.Zero(t, s.Video.Size, "no keyframe came: the video file is empty")

	b, err := os.ReadFile(s.Timeline.Path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	assert.Equal(t, hex.EncodeToString(sum[:]), s.Timeline.SHA256)
	want := `{"t_ms":0,"kind":"start","at":"2023-11-14T22:13:20Z","id":"sess-42","capture_keys":false}
{"t_ms":0,"kind":"participant-joined","sid":"s1","name":"Ada","grant":"admin"}
{"t_ms":2000,"kind":"participant-left","sid":"s1","name":"Ada"}
{"t_ms":0,"kind":"participant-joined","sid":"s0"}
{"t_ms":3000,"kind":"end","frames":0,"duration_ms":0,"video_sha256":"` + s.Video.SHA256 + `"}
`
	assert.Equal(t, want, string(b))

	_, err = r.Close()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, r.AddEvent(time.Time{}, Event{Kind: KindLeft, SID: "s0"}), ErrClosed)
	require.ErrorIs(t, r.WriteRTP(&rtp.Packet{}), ErrClosed)
}
