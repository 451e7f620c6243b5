package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// probeFile is what ffprobe (decoding every frame, errors reported) says of a recording.
func probeFile(t *testing.T, path string) (frames int, duration time.Duration, width, height int) {
	t.Helper()
	bin := testenv.LookPath(t, "ffprobe", "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ffprobe: %s", stderr.String())
	require.Empty(t, strings.TrimSpace(stderr.String()), "ffprobe found errors in %s", path)
	var res struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res.Streams, 1)
	assert.Equal(t, "h264", res.Streams[0].CodecName)
	frames, err = strconv.Atoi(res.Streams[0].NbReadFrames)
	require.NoError(t, err)
	secs, err := strconv.ParseFloat(res.Format.Duration, 64)
	require.NoError(t, err)
	return frames, time.Duration(secs * float64(time.Second)), res.Streams[0].Width, res.Streams[0].Height
}

// setRecording sets the organization's recording policy.
func setRecording(t *testing.T, ctx context.Context, api *client.Client, policy string) {
	t.Helper()
	_, err := api.UpdateOrgSettings(ctx, client.OrgSettings{Recording: &policy})
	require.NoError(t, err)
}

// TestRecordedSession: an organization that records; a console watches a device for a few
// seconds, and when it leaves the relay has written the stream as the agent sent it (received
// once through the fan-out hub) to an MP4 that the real ffprobe decodes without an error, with
// the frames and duration the catalogue says, whose SHA-256 is in the audit chain: verifying it
// passes, and fails once a byte of the file changed.
func TestRecordedSession(t *testing.T) {
	dir := t.TempDir()
	s, tenants := newControlRelayWith(t, func(c *relay.Config) { c.RecordingsDir = dir }, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack7-db1", nil)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 30})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	setRecording(t, ctx, acme.api, "on")
	started, err := acme.api.StartConsole(ctx, dev.ID)
	require.NoError(t, err)
	code, err := testconsole.CodeFromLink(started.ConsoleURL)
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code})
	require.NoError(t, err)
	_, err = con.WaitVideo(ctx)
	require.NoError(t, err)

	var rec client.Recording
	require.Eventually(t, func() bool {
		page, err := acme.api.Recordings(ctx, client.RecordingFilter{DeviceID: dev.ID})
		if err != nil || len(page.Recordings) == 0 {
			return false
		}
		rec = page.Recordings[0]
		return true
	}, 20*time.Second, 100*time.Millisecond, "the recording catalogued when the console joined")
	assert.Equal(t, "recording", rec.State)
	time.Sleep(4 * time.Second) // what the console watches is recorded
	con.Close()

	require.Eventually(t, func() bool {
		rec, err = acme.api.Recording(ctx, rec.ID)
		return err == nil && rec.State != "recording"
	}, 30*time.Second, 100*time.Millisecond, "the recording closed when its last console left")
	require.Equal(t, "complete", rec.State, "error: %s", rec.Error)
	require.Len(t, rec.Participants, 1)
	assert.Equal(t, "owner@acme.example", rec.Participants[0].Name.String())

	path := filepath.Join(dir, filepath.FromSlash(mustRel(t, dir, rec)))
	frames, duration, w, h := probeFile(t, path)
	t.Logf("recording %s: %d frames, %s (catalogue: %d frames, %d ms, %d bytes)", rec.ID, frames, duration, rec.Frames, rec.DurationMS, rec.Bytes)
	assert.Equal(t, [2]int{640, 360}, [2]int{w, h})
	assert.InDelta(t, float64(rec.Frames), float64(frames), float64(rec.Frames)*0.05, "frames: ffprobe against the catalogue")
	assert.InDelta(t, float64(rec.DurationMS), float64(duration.Milliseconds()), float64(rec.DurationMS)*0.05, "duration")
	assert.Greater(t, duration, 3*time.Second, "about 4 s watched")
	// The test pattern sends 30 frames a second; the recording holds them.
	assert.InDelta(t, 30*duration.Seconds(), float64(frames), 30*duration.Seconds()*0.05, "frames against the frames sent")

	v, err := acme.api.VerifyRecording(ctx, rec.ID)
	require.NoError(t, err)
	assert.True(t, v.OK, "%+v", v)

	// Tampering: one byte of the file changes.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, os.WriteFile(path, data, 0o600))
	v, err = acme.api.VerifyRecording(ctx, rec.ID)
	var tampered *client.RecordingTamperedError
	if err == nil {
		assert.False(t, v.OK, "a changed file does not verify")
	} else {
		assert.True(t, errors.As(err, &tampered), "a changed file does not verify: %v", err)
	}
}

// mustRel finds the recording's file under dir (<dir>/<org>/<id>.mp4).
func mustRel(t *testing.T, dir string, rec client.Recording) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*", rec.ID+".mp4"))
	require.NoError(t, err)
	require.Len(t, matches, 1, "the recording's file")
	rel, err := filepath.Rel(dir, matches[0])
	require.NoError(t, err)
	return filepath.ToSlash(rel)
}

// TestRequiredRecordingRefusesUnwritableStorage: an organization that requires recording, and
// a relay that cannot write its recordings directory: the console's session does not go on,
// and the console says why.
func TestRequiredRecordingRefusesUnwritableStorage(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "not-a-directory")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o600))
	s, tenants := newControlRelayWith(t, func(c *relay.Config) { c.RecordingsDir = filepath.Join(blocker, "recordings") }, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack7-db1", nil)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 15})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	setRecording(t, ctx, acme.api, "required")
	started, err := acme.api.StartConsole(ctx, dev.ID)
	require.NoError(t, err)
	code, err := testconsole.CodeFromLink(started.ConsoleURL)
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code})
	var why string
	if err != nil {
		// Refused before the welcome: the recording was refused while the console connected.
		require.ErrorIs(t, err, testconsole.ErrRefused)
		require.Contains(t, err.Error(), wire.CodeSessionEnded)
		why = err.Error()
	} else {
		defer con.Close()
		require.Eventually(t, func() bool {
			for _, e := range con.Errors() {
				if e.Code == wire.CodeSessionEnded {
					why = e.Message
					return true
				}
			}
			return false
		}, 20*time.Second, 50*time.Millisecond, "the session ended")
	}
	assert.Contains(t, why, "requires recording", "the console says why: %s", why)
	sess, err := acme.api.Session(ctx, started.Session.ID)
	require.NoError(t, err)
	assert.Equal(t, "STOPPED", sess.Current)
}

// lockedLog is a log destination the test reads while the relay writes.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// timelineLine is the part of a recording's timeline line the keystroke test reads.
type timelineLine struct {
	TMS         int64             `json:"t_ms"`
	Kind        string            `json:"kind"`
	SID         string            `json:"sid"`
	CaptureKeys *bool             `json:"capture_keys"`
	Burst       *wire.InputBurst  `json:"burst"`
	Keys        []json.RawMessage `json:"keys"`
}

// readTimeline reads a finished recording's timeline file.
func readTimeline(t *testing.T, dir string, rec client.Recording) []timelineLine {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*", rec.ID+".timeline.jsonl"))
	require.NoError(t, err)
	require.Len(t, matches, 1, "the recording's timeline")
	f, err := os.Open(matches[0])
	require.NoError(t, err)
	defer f.Close()
	var out []timelineLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l timelineLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "%s", sc.Text())
		out = append(out, l)
	}
	require.NoError(t, sc.Err())
	return out
}

// timelineKeys is every stroke of the timeline's keys events, in order, as KEY events.
func timelineKeys(t *testing.T, lines []timelineLine) []hid.KeyMsg {
	t.Helper()
	var out []hid.KeyMsg
	for _, l := range lines {
		if l.Kind != "keys" {
			continue
		}
		for _, raw := range l.Keys {
			var k struct {
				Usage uint16 `json:"usage"`
				Down  bool   `json:"down"`
			}
			require.NoError(t, json.Unmarshal(raw, &k))
			out = append(out, hid.KeyMsg{Usage: hid.Usage(k.Usage), Down: k.Down})
		}
	}
	return out
}

// typeAndRecord runs one recorded console session on dev: the console types keys, gives
// control up (its last input burst is reported) and leaves; it returns the finished recording.
func typeAndRecord(t *testing.T, ctx context.Context, s *stack, api *client.Client, devID string, keys []hid.KeyMsg) client.Recording {
	t.Helper()
	started, err := api.StartConsole(ctx, devID)
	require.NoError(t, err)
	code, err := testconsole.CodeFromLink(started.ConsoleURL)
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code})
	require.NoError(t, err)
	defer con.Close()
	_, err = con.WaitVideo(ctx)
	require.NoError(t, err)
	require.NoError(t, con.WaitChannels(ctx))
	_, err = con.WaitRoster(ctx, "control", func(r wire.Roster) bool { return r.Controller == con.SID() })
	require.NoError(t, err, "a lone operator holds control")

	var rec client.Recording
	require.Eventually(t, func() bool {
		page, err := api.Recordings(ctx, client.RecordingFilter{SessionID: started.Session.ID})
		if err != nil || len(page.Recordings) == 0 {
			return false
		}
		rec = page.Recordings[0]
		return true
	}, 20*time.Second, 100*time.Millisecond, "the recording catalogued when the console joined")

	for _, k := range keys {
		b, err := hid.Encode(k)
		require.NoError(t, err)
		require.NoError(t, con.SendHID(b))
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(time.Second) // the keys are batched: a batch goes within 250 ms
	require.NoError(t, con.Control(wire.Control{Action: wire.ControlRelease}))
	_, err = con.WaitRoster(ctx, "control released", func(r wire.Roster) bool { return r.Controller == "" })
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond) // the final burst reaches the relay
	con.Close()

	require.Eventually(t, func() bool {
		rec, err = api.Recording(ctx, rec.ID)
		return err == nil && rec.State != "recording"
	}, 30*time.Second, 100*time.Millisecond, "the recording closed when its last console left")
	require.Equal(t, "complete", rec.State, "error: %s", rec.Error)
	return rec
}

// TestRecordedSessionWithKeystrokes: an organization that records with full keystroke
// capture gets exactly the keys its console typed in the recording's timeline, and the input
// burst the audit chain holds for them has their digest; with capture off the timeline holds
// the burst (a count and a digest) and no key. The keys are in neither the audit chain nor
// the relay's log.
func TestRecordedSessionWithKeystrokes(t *testing.T) {
	dir := t.TempDir()
	logs := &lockedLog{}
	s, tenants := newControlRelayWith(t, func(c *relay.Config) {
		c.RecordingsDir = dir
		var out io.Writer = logs
		if os.Getenv("KVMRELAY_TEST_LOG") != "" {
			out = io.MultiWriter(logs, os.Stderr)
		}
		c.Logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}, "acme")
	acme := tenants["acme"]
	dev, id, hc := enrollDevice(t, s, acme, "rack7-db1", nil)
	runEnrolledAgent(t, s, id, hc, stackOptions{width: 640, height: 360, fps: 15})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	setRecording(t, ctx, acme.api, "on")
	// "pass" with Shift held for the P: what a person types at a BIOS prompt.
	typed := []hid.KeyMsg{
		{Usage: hid.UsageLeftShift, Down: true}, {Usage: 0x13, Down: true}, {Usage: 0x13}, {Usage: hid.UsageLeftShift},
		{Usage: 0x04, Down: true}, {Usage: 0x04}, {Usage: 0x16, Down: true}, {Usage: 0x16}, {Usage: 0x16, Down: true}, {Usage: 0x16},
	}

	t.Run("capture on", func(t *testing.T) {
		on := true
		_, err := acme.api.UpdateOrgSettings(ctx, client.OrgSettings{RecordingKeys: &on})
		require.NoError(t, err)
		rec := typeAndRecord(t, ctx, s, acme.api, dev.ID, typed)
		assert.True(t, rec.CaptureKeys)
		lines := readTimeline(t, dir, rec)
		require.NotEmpty(t, lines)
		require.NotNil(t, lines[0].CaptureKeys)
		assert.True(t, *lines[0].CaptureKeys)
		assert.Equal(t, typed, timelineKeys(t, lines), "the timeline holds exactly the keys typed")

		// The keys check against the burst's digest: every keys event comes before the burst it
		// counts in, and the bursts with input here are keys only.
		var keys []hid.KeyMsg
		checked := 0
		for _, l := range lines {
			switch {
			case l.Kind == "keys":
				keys = append(keys, timelineKeys(t, []timelineLine{l})...)
			case l.Kind == "input-burst" && l.Burst != nil && l.Burst.Keys > 0:
				require.Zero(t, l.Burst.Pointer, "the console sent no pointer input")
				assert.Len(t, keys, l.Burst.Keys, "the burst counts the keys before it")
				digest, err := hid.DigestKeys(keys)
				require.NoError(t, err)
				assert.Equal(t, l.Burst.Digest, digest, "the recording's keys match the audited digest")
				keys = nil
				checked++
			}
		}
		assert.Positive(t, checked, "a burst with the keys was recorded")
		assert.True(t, slices.ContainsFunc(lines, func(l timelineLine) bool { return l.Kind == "control" }), "control moves are on the timeline")
		assert.Empty(t, keys, "no key after the last burst")
	})

	t.Run("capture off", func(t *testing.T) {
		off := false
		_, err := acme.api.UpdateOrgSettings(ctx, client.OrgSettings{RecordingKeys: &off})
		require.NoError(t, err)
		rec := typeAndRecord(t, ctx, s, acme.api, dev.ID, typed)
		assert.False(t, rec.CaptureKeys)
		lines := readTimeline(t, dir, rec)
		assert.Empty(t, timelineKeys(t, lines), "no key without capture")
		keysCounted := 0
		for _, l := range lines {
			assert.NotEqual(t, "keys", l.Kind)
			if l.Kind == "input-burst" && l.Burst != nil {
				keysCounted += l.Burst.Keys
			}
		}
		assert.Equal(t, len(typed), keysCounted, "the bursts count the keys all the same")
	})

	t.Run("keys in neither the audit chain nor the log", func(t *testing.T) {
		var export strings.Builder
		inputs := 0
		require.NoError(t, acme.api.ExportAudit(ctx, 0, 500, func(e client.AuditEntry) error {
			export.Write(e.Details)
			export.WriteString(e.Action + "\n")
			if strings.Contains(e.Action, "input") {
				inputs++
			}
			return nil
		}))
		assert.Positive(t, inputs, "the input bursts are audited")
		for name, text := range map[string]string{"audit chain": export.String(), "relay log": logs.String()} {
			for _, leak := range []string{`"usage"`, "usage=", `"strokes"`, "strokes="} {
				assert.NotContains(t, text, leak, "a key in the %s", name)
			}
		}
		assert.Contains(t, logs.String(), "capture_keys=true", "the log says keys are captured, not which")
		assert.NotContains(t, logs.String(), "recording timeline event not written", "every event reached the timeline")
	})
}

// openOnNode opens a console on deviceID for a new API key of role named name, started through
// the API of apiURL's node and connected to consoleURL's node.
func openOnNode(t *testing.T, ctx context.Context, apiURL, consoleURL string, tn *tenant, deviceID, name, role string) *sharedParticipant {
	t.Helper()
	key, err := tn.api.CreateAPIKey(ctx, client.NewAPIKey{Name: name, Role: role})
	require.NoError(t, err)
	api, err := client.New(client.Config{Server: apiURL, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	_, err = api.LoginAPIKey(ctx, key.Key)
	require.NoError(t, err)
	started, err := api.StartConsole(ctx, deviceID)
	require.NoError(t, err)
	code, err := testconsole.CodeFromLink(started.ConsoleURL)
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: consoleURL, Code: code})
	require.NoError(t, err)
	t.Cleanup(con.Close)
	require.NoError(t, con.WaitChannels(ctx), "%s's data channels", name)
	_, err = con.WaitVideo(ctx)
	require.NoError(t, err, "%s's video", name)
	return &sharedParticipant{name: name, con: con}
}

// TestRecordingAcrossNodes: a device whose agent is connected to node A, watched by a console
// on node A and one on node B, in an organization that records: one recording for the
// device, written by the node holding its stream, whose participants are both nodes'
// consoles and whose timeline holds the control events and input bursts of the console on
// node B (its control and input reach node A, where the agent is). The file decodes without
// error and verifies against the audit chain.
func TestRecordingAcrossNodes(t *testing.T) {
	dir := t.TempDir()
	f := startFanoutNodes(t, "--recordings-dir", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _, err := relay.CreateOwner(ctx, relay.Config{Listen: "127.0.0.1:0", DataDir: f.keyDir, DatabaseURL: f.databaseURL, Logger: testLogger()}, "ACME", "acme", "owner@acme.example", webPassword)
	require.NoError(t, err)
	api, err := client.New(client.Config{Server: f.a.url, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	_, err = api.Login(ctx, client.LoginRequest{Org: "acme", Email: "owner@acme.example", Password: webPassword})
	require.NoError(t, err)
	acme := &tenant{slug: "acme", email: "owner@acme.example", api: api}
	onA := &stack{url: f.a.url}
	dev, id, hc := enrollDevice(t, onA, acme, "rack7-db1", nil)
	runEnrolledAgent(t, onA, id, hc, stackOptions{width: 640, height: 360, fps: 15})
	setRecording(t, ctx, api, "on")

	ann := openOnNode(t, ctx, f.a.url, f.a.url, acme, dev.ID, "ann", "operator")
	controllerIs(t, ctx, ann, ann)
	var rec client.Recording
	require.Eventually(t, func() bool {
		page, err := api.Recordings(ctx, client.RecordingFilter{DeviceID: dev.ID})
		if err != nil || len(page.Recordings) == 0 {
			return false
		}
		rec = page.Recordings[0]
		return true
	}, 30*time.Second, 100*time.Millisecond, "the recording catalogued when the first console joined")
	bob := openOnNode(t, ctx, f.a.url, f.b.url, acme, dev.ID, "bob", "operator")

	// Control moves to the console on node B, which types.
	require.NoError(t, ann.con.Control(wire.Control{Action: wire.ControlRelease}))
	controllerIs(t, ctx, bob, nil)
	require.NoError(t, bob.con.Control(wire.Control{Action: wire.ControlRequest}))
	controllerIs(t, ctx, bob, bob)
	for range 3 {
		bob.keyAs(t, hid.UsageA)
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	require.NoError(t, bob.con.Control(wire.Control{Action: wire.ControlRelease}))
	controllerIs(t, ctx, bob, nil)
	time.Sleep(time.Second) // the final burst reaches the recorder
	bob.con.Close()
	time.Sleep(3 * time.Second) // the recorder hears node B's console leave; it goes on with node A's
	ann.con.Close()

	require.Eventually(t, func() bool {
		rec, err = api.Recording(ctx, rec.ID)
		return err == nil && rec.State != "recording"
	}, 45*time.Second, 100*time.Millisecond, "the recording closed when the last console anywhere left")
	require.Equal(t, "complete", rec.State, "error: %s", rec.Error)
	page, err := api.Recordings(ctx, client.RecordingFilter{DeviceID: dev.ID})
	require.NoError(t, err)
	require.Len(t, page.Recordings, 1, "one recording of the device across both nodes")

	var names []string
	for _, p := range rec.Participants {
		names = append(names, p.Name.String())
	}
	assert.ElementsMatch(t, []string{"API key ann", "API key bob"}, names, "both nodes' consoles took part")

	var controls, bursts int
	for _, l := range readTimelineRaw(t, dir, rec) {
		switch l.Kind {
		case "control":
			if l.Control != nil && l.Control.Subject == bob.con.SID() {
				controls++
			}
		case "input-burst":
			if l.SID == bob.con.SID() {
				bursts++
			}
		}
	}
	assert.Positive(t, controls, "the control events of the console on node B")
	assert.Positive(t, bursts, "the input bursts of the console on node B")

	frames, duration, w, h := probeFile(t, filepath.Join(dir, filepath.FromSlash(mustRel(t, dir, rec))))
	t.Logf("recording %s: %d frames, %s", rec.ID, frames, duration)
	assert.Equal(t, [2]int{640, 360}, [2]int{w, h})
	assert.Greater(t, duration, 3*time.Second, "from the first console joining to the last leaving")
	v, err := api.VerifyRecording(ctx, rec.ID)
	require.NoError(t, err)
	assert.True(t, v.OK, "%+v", v)
}

// timelineControl is a timeline line with its control event.
type timelineControl struct {
	Kind    string            `json:"kind"`
	SID     string            `json:"sid"`
	Control *wire.RosterEvent `json:"control"`
}

// readTimelineRaw reads a finished recording's timeline with control events.
func readTimelineRaw(t *testing.T, dir string, rec client.Recording) []timelineControl {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*", rec.ID+".timeline.jsonl"))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	data, err := os.ReadFile(matches[0])
	require.NoError(t, err)
	var out []timelineControl
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var l timelineControl
		require.NoError(t, json.Unmarshal(line, &l), "%s", line)
		out = append(out, l)
	}
	return out
}
