package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent/enroll"
	"github.com/kvmrelay/kvmrelay/control/client"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/relay"
)

// The shared-session figures (make bench-fanout): one 1080p30 test-pattern machine watched by
// 1, 5 and 20 consoles. The relay (`kvmrelay serve`) and the agent (`kvmagent run`) are
// processes of their own, so each one's CPU is read from /proc/PID/stat; the consoles run
// here: the controller is a Chromium tab (video peer to peer from the agent, --p2p-viewers 1),
// one relayed viewer is a second tab of the same browser (so both tabs' times share one clock),
// and the other relayed viewers are Go test consoles that receive as a browser does.

const (
	fanoutWidth, fanoutHeight, fanoutFPS = 1920, 1080, 30
	// fanoutRecordingViewers is the console count of the recording's on/off comparison.
	fanoutRecordingViewers = 5
)

// TestBenchFanout prints, per console count: the agent's CPU and upload, the relay's CPU in
// total and per relayed viewer, the frames each viewer received, and key-down → frame shown
// for the controller and for a relayed viewer; then the relay's CPU with the organization's
// recording on against off, and the recording's bytes per minute. It asserts only that the
// setup works (every viewer got frames, latency samples were collected).
func TestBenchFanout(t *testing.T) {
	benchEnabled(t, "fanout")
	samples := 100
	if n := envInt("KVMRELAY_BENCH_SAMPLES"); n > 0 {
		samples = n
	}
	window := 10 * time.Second
	if n := envInt("KVMRELAY_BENCH_WINDOW"); n > 0 {
		window = time.Duration(n) * time.Second
	}
	f := startFanoutBench(t)
	fmt.Printf("bench-fanout: %dx%d at %d fps, test pattern; relay pid %d and agent pid %d are processes, CPU from /proc/PID/stat "+
		"over %s windows (%% of one core; %d cores here); consoles in the test process\n",
		fanoutWidth, fanoutHeight, fanoutFPS, f.relay.cmd.Process.Pid, f.agent.Process.Pid, window, runtime.NumCPU())
	fmt.Println("bench-fanout: agent upload = RTP payload bytes its receivers counted (WebRTC inbound-rtp bytesReceived): " +
		"the controller tab's, plus the relayed viewer tab's for the relay's uplink (the relay forwards the uplink's packets as they came); " +
		"kvmagent exposes no counters of its own")

	browser := testenv.Chromium(t)
	controller := browser
	viewer, closeViewer := chromedp.NewContext(browser)
	t.Cleanup(closeViewer)
	var loads []*testconsole.Console
	var off fanoutWindow // the figures at fanoutRecordingViewers consoles, recording off

	for _, n := range []int{1, 5, 20} {
		f.openConsoles(t, controller, viewer, &loads, n)
		time.Sleep(3 * time.Second) // bandwidth estimation and the relayed viewers' keyframes settle
		w := f.measure(t, controller, viewer, loads, window)
		w.print(fmt.Sprintf("N=%d", n), n)
		f.printLadder(t, fmt.Sprintf("N=%d", n))
		if n == fanoutRecordingViewers {
			off = w
		}
		f.latency(t, controller, viewer, n, samples)
	}

	f.recording(t, controller, viewer, &loads, off, window)
}

// fanoutBench is the relay and agent processes and the organization they serve.
type fanoutBench struct {
	relay    *relayNode
	agent    *exec.Cmd
	api      *client.Client
	deviceID string
	redeems  int // links redeemed for test consoles, to spread them over source addresses
	// agentLog is the agent's log; ladderRead how much of it ladderSteps has read.
	agentLog   string
	ladderRead int
}

// startFanoutBench builds kvmrelay and kvmagent, bootstraps an organization (as `kvmrelay
// admin create` does) in a fresh data directory, starts `kvmrelay serve` on it, enrolls a
// device and starts `kvmagent run` for it with the test pattern.
func startFanoutBench(t *testing.T) *fanoutBench {
	t.Helper()
	relayBin, agentBin := buildCommand(t, "kvmrelay"), buildCommand(t, "kvmagent")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Links start with the public URL: the port is chosen before the relay starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	data := filepath.Join(t.TempDir(), "data")
	f := &fanoutBench{}
	_, _, err = relay.CreateOwner(ctx, relay.Config{Listen: addr, PublicURL: "http://" + addr, DataDir: data}, "ACME", "acme", "owner@acme.example", webPassword)
	require.NoError(t, err)
	// No TURN: the consoles reach the agent and the relay directly on the test network. A
	// console that went away without a bye (a tab navigated off) ends after 3 s, not 45.
	f.relay = startServe(t, "relay", []string{relayBin, "serve", "--listen", addr, "--public-url", "http://" + addr,
		"--data-dir", data, "--turn-listen", "", "--p2p-viewers", "1", "--console-reconnect-grace", "3s", "--log-level", "warn"})

	f.api, err = client.New(client.Config{Server: f.relay.url, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	_, err = f.api.Login(ctx, client.LoginRequest{Org: "acme", Email: "owner@acme.example", Password: webPassword})
	require.NoError(t, err)
	dev, err := f.api.CreateDeviceWith(ctx, client.NewDevice{Name: "bench-1080p"})
	require.NoError(t, err)
	f.deviceID = dev.ID
	tok, err := f.api.CreateEnrollmentToken(ctx, dev.ID)
	require.NoError(t, err)
	hc, err := enroll.NewHTTPClient(f.relay.url, nil)
	require.NoError(t, err)
	defer hc.CloseIdleConnections()
	state := filepath.Join(t.TempDir(), "state")
	_, err = enroll.Enroll(ctx, state, tok.Token, hc)
	require.NoError(t, err)

	// Info: the agent logs each step down its resolution ladder, with the estimate behind it.
	f.agent, f.agentLog = startProcess(t, "agent", agentBin, "run", "--server", f.relay.url, "--state-dir", state,
		"--source", "testpattern", "--size", fmt.Sprintf("%dx%d", fanoutWidth, fanoutHeight), "--fps", strconv.Itoa(fanoutFPS), "--log-level", "info")
	require.Eventually(t, func() bool {
		n, err := scrapeMetric(f.relay.url+"/metrics", "kvmrelay_agents_connected")
		return err == nil && n == 1
	}, 20*time.Second, 50*time.Millisecond, "the agent never connected")
	return f
}

// buildCommand builds ./cmd/<name> into a temporary directory.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/"+name)
	cmd.Dir = ".." // the module root; tests run in their package's directory
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/%s: %s", name, b)
	return out
}

// startProcess runs bin with args, its output in a log file, until the test ends (SIGTERM,
// then SIGKILL after 15 s); the test's log gets the process's when the test failed.
func startProcess(t *testing.T, name, bin string, args ...string) (cmd *exec.Cmd, logPath string) {
	t.Helper()
	logPath = filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close() // the child has its own descriptor
	cmd = exec.Command(bin, args...)
	cmd.Env = nodeEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%s did not stop within 15s of SIGTERM", name)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return cmd, logPath
}

var ladderLine = regexp.MustCompile(`sending a smaller picture.*estimate_bps=(\d+).*sent=(\S+)`)

// ladderSteps reads the agent's log since the last call for steps down its resolution ladder
// (the picture made smaller because the lowest bandwidth estimate of its video sessions, the
// relay's uplink included, cannot carry it) and says how many and the last one.
func (f *fanoutBench) ladderSteps(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.agentLog)
	require.NoError(t, err)
	steps := ladderLine.FindAllSubmatch(b[f.ladderRead:], -1)
	f.ladderRead = len(b)
	if len(steps) == 0 {
		return ""
	}
	last := steps[len(steps)-1]
	return fmt.Sprintf("%d steps down (the last at an estimate of %s bit/s, to %s)", len(steps), last[1], last[2])
}

// pidCPU is a process's user+system CPU time, all its threads, from /proc/PID/stat.
func pidCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(t, err)
	st, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(t, err)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// printLadder says whether the agent made its picture smaller since the last figures.
func (f *fanoutBench) printLadder(t *testing.T, label string) {
	t.Helper()
	if steps := f.ladderSteps(t); steps != "" {
		fmt.Printf("bench-fanout %s: the agent's resolution ladder since the last figures: %s\n", label, steps)
	}
}

// link starts a console session on the device and returns its console link.
func (f *fanoutBench) link(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	started, err := f.api.StartConsole(ctx, f.deviceID)
	require.NoError(t, err)
	return started.ConsoleURL
}

// openConsoles brings the device's consoles up to n: the controller tab first (peer to peer,
// in control), then the viewer tab (relayed), then relayed Go consoles; it waits until each
// new one has video the way it should (the agent's or the relay's).
func (f *fanoutBench) openConsoles(t *testing.T, controller, viewer context.Context, loads *[]*testconsole.Console, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	have := 0
	if ok, _ := js[bool](controller, `!!(window.kvm && window.kvm.state === "connected")`); ok {
		have++
		if ok, _ := js[bool](viewer, `!!(window.kvm && window.kvm.state === "connected")`); ok {
			have++
		}
	}
	if have == 0 && n >= 1 {
		openConsole(t, controller, f.link(t))
		waitJS(t, controller, `window.kvm.stats.videoVia === "agent" && window.kvm.inControl`, 15*time.Second,
			"the controller tab: video from the agent, in control")
		// The strip trace is the viewer's; the controller times its own keys (the latency meter).
		have++
	}
	if have == 1 && n >= 2 {
		openConsole(t, viewer, f.link(t))
		waitJS(t, viewer, `window.kvm.framesDecoded > 0 && window.kvm.stats.videoVia === "relay"`, 20*time.Second,
			"the viewer tab: video through the relay")
		_, err := js[any](viewer, `window.kvm.traceStrip(true)`)
		require.NoError(t, err)
		have++
	}
	for have += len(*loads); have < n; have++ {
		con, err := testconsole.Open(ctx, testconsole.Config{Relay: f.relay.url, Token: f.redeem(t, ctx, f.link(t)), IncludeLoopback: true, Receiver: true})
		require.NoError(t, err)
		t.Cleanup(con.Close)
		require.NoError(t, con.WaitRelayedVideo(ctx), "relayed console %d: video through the relay", len(*loads)+1)
		*loads = append(*loads, con)
	}
	require.Eventually(t, func() bool {
		v, err := scrapeMetric(f.relay.url+"/metrics", "kvmrelay_fanout_viewers")
		return err == nil && v == float64(n-1)
	}, 20*time.Second, 50*time.Millisecond, "the relay sends %d consoles their video", n-1)
}

// redeem exchanges a console link for a console token, as testconsole.Open does, but from a
// loopback source address of its own per 20 links: the relay caps redemptions per client
// address and minute (30 by default), and twenty consoles a minute is this benchmark, not an
// abuse. The tabs redeem their own links from 127.0.0.1.
func (f *fanoutBench) redeem(t *testing.T, ctx context.Context, link string) string {
	t.Helper()
	code, err := testconsole.CodeFromLink(link)
	require.NoError(t, err)
	src := net.IPv4(127, 0, 0, byte(2+f.redeems/20))
	f.redeems++
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}).DialContext}
	defer tr.CloseIdleConnections()
	body := strings.NewReader(fmt.Sprintf(`{"code":%q}`, code))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.relay.url+"/api/v1/console/redeem", body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Token   string `json:"token"`
		Message string `json:"message"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusOK, resp.StatusCode, "redeem from %s: %s", src, out.Message)
	return out.Token
}

// fanoutWindow is what one measurement window saw.
type fanoutWindow struct {
	wall               time.Duration
	relayCPU, agentCPU time.Duration
	frames             float64 // the controller tab decoded
	controllerKbps     float64 // received by the controller tab (from the agent)
	uplinkKbps         float64 // received by the viewer tab (from the relay): the uplink's rate
	viewerFrames       []float64
	relayed            int
	size               string // the picture the controller tab received at the window's end
	// keyframeRequests the relayed Go consoles sent (a lost packet leaves a receiver unable to
	// decode until the next keyframe).
	keyframeRequests int
	// shortPackets are the video packets that Go viewers with under half the controller's
	// frames received in the window: none means the relay sent them nothing.
	shortPackets []int64
}

// tabStats is the part of the page's stats the windows need.
type tabStats struct {
	Raw *struct {
		Bytes  float64 `json:"bytes"`
		Frames float64 `json:"frames"`
	} `json:"raw"`
	At     float64  `json:"at"`
	Width  *float64 `json:"width"`
	Height *float64 `json:"height"`
}

func readTabStats(t *testing.T, tab context.Context) tabStats {
	t.Helper()
	var s tabStats
	raw, err := js[string](tab, `JSON.stringify(window.kvm.stats || {})`)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(raw), &s))
	return s
}

// kbps is the payload rate between two of a tab's stats reports (refreshed once a second).
func kbps(a, b tabStats) float64 {
	if a.Raw == nil || b.Raw == nil || b.At <= a.At {
		return 0
	}
	return (b.Raw.Bytes - a.Raw.Bytes) * 8 / (b.At - a.At) // bytes per ms × 8 = kbit/s
}

// measure reads both processes' CPU, the tabs' received bytes and every viewer's frames over
// one window in which nobody types.
func (f *fanoutBench) measure(t *testing.T, controller, viewer context.Context, loads []*testconsole.Console, window time.Duration) fanoutWindow {
	t.Helper()
	relayPID, agentPID := f.relay.cmd.Process.Pid, f.agent.Process.Pid
	hasViewer, _ := js[bool](viewer, `!!(window.kvm && window.kvm.state === "connected")`)
	plis0 := 0
	packets0 := make([]int64, len(loads))
	for i, con := range loads {
		plis0 += con.KeyframeRequests()
		packets0[i] = con.RelayedPackets()
	}
	start := time.Now()
	relay0, agent0 := pidCPU(t, relayPID), pidCPU(t, agentPID)
	c0 := readTabStats(t, controller)
	var v0 tabStats
	if hasViewer {
		v0 = readTabStats(t, viewer)
	}
	time.Sleep(window)
	end := time.Now()
	w := fanoutWindow{wall: end.Sub(start), relayCPU: pidCPU(t, relayPID) - relay0, agentCPU: pidCPU(t, agentPID) - agent0, relayed: len(loads)}
	c1 := readTabStats(t, controller)
	w.size = "?"
	if c1.Width != nil && c1.Height != nil {
		w.size = fmt.Sprintf("%.0fx%.0f", *c1.Width, *c1.Height)
	}
	if c0.Raw != nil && c1.Raw != nil {
		// The page's counts lag up to a second (stats refresh): scaled to the window.
		w.frames = (c1.Raw.Frames - c0.Raw.Frames) / (c1.At - c0.At) * 1000 * w.wall.Seconds()
	}
	w.controllerKbps = kbps(c0, c1)
	require.Positive(t, w.frames, "the controller tab decoded frames in the window")
	if hasViewer {
		v1 := readTabStats(t, viewer)
		w.uplinkKbps = kbps(v0, v1)
		require.NotNil(t, v1.Raw)
		w.viewerFrames = append(w.viewerFrames, (v1.Raw.Frames-v0.Raw.Frames)/(v1.At-v0.At)*1000*w.wall.Seconds())
		w.relayed++
	}
	for _, con := range loads {
		w.keyframeRequests += con.KeyframeRequests()
	}
	w.keyframeRequests -= plis0
	for i, con := range loads {
		got := con.DecodableFrames(start) - con.DecodableFrames(end)
		if float64(got) < w.frames/2 {
			w.shortPackets = append(w.shortPackets, con.RelayedPackets()-packets0[i])
		}
		require.Positive(t, got, "relayed console %d got frames in the window", i+1)
		w.viewerFrames = append(w.viewerFrames, float64(got))
	}
	for i, fr := range w.viewerFrames {
		require.Positive(t, fr, "viewer %d got frames in the window", i)
	}
	return w
}

func (w fanoutWindow) cpuPercent(cpu time.Duration) float64 {
	return 100 * cpu.Seconds() / w.wall.Seconds()
}

func (w fanoutWindow) msPerFrame(cpu time.Duration) float64 {
	if w.frames == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / 1000 / w.frames
}

func (w fanoutWindow) print(label string, n int) {
	fmt.Printf("bench-fanout %s (1 peer to peer + %d relayed): agent CPU %.1f%% of a core, %.2f ms per frame (%.0f frames in %.1f s, sent as %s)\n",
		label, n-1, w.cpuPercent(w.agentCPU), w.msPerFrame(w.agentCPU), w.frames, w.wall.Seconds(), w.size)
	up := w.controllerKbps
	detail := fmt.Sprintf("controller %.0f", w.controllerKbps)
	if w.relayed > 0 {
		up += w.uplinkKbps
		detail += fmt.Sprintf(" + relay uplink ≈ %.0f (the viewer tab's)", w.uplinkKbps)
	}
	fmt.Printf("bench-fanout %s: agent upload %.0f kbit/s (%s)\n", label, up, detail)
	perViewer := "no relayed viewer"
	if w.relayed > 0 {
		perViewer = fmt.Sprintf("%.2f%% of a core and %.3f ms per frame per relayed viewer (%d)",
			w.cpuPercent(w.relayCPU)/float64(w.relayed), w.msPerFrame(w.relayCPU)/float64(w.relayed), w.relayed)
	}
	fmt.Printf("bench-fanout %s: relay CPU %.1f%% of a core, %.2f ms per frame; %s\n", label, w.cpuPercent(w.relayCPU), w.msPerFrame(w.relayCPU), perViewer)
	if len(w.viewerFrames) > 0 {
		s := slices.Sorted(slices.Values(w.viewerFrames))
		short := 0
		for _, fr := range s {
			if fr < w.frames/2 {
				short++
			}
		}
		fmt.Printf("bench-fanout %s: decodable frames per relayed viewer in %.1f s: min %.0f median %.0f (the controller %.0f); "+
			"%d of %d viewers under half the controller's; %d keyframe requests from the Go viewers\n",
			label, w.wall.Seconds(), s[0], percentile(s, 50), w.frames, short, len(s), w.keyframeRequests)
		if len(w.shortPackets) > 0 {
			fmt.Printf("bench-fanout %s: video packets the Go viewers under half received in the window: %v\n", label, w.shortPackets)
		}
	}
}

// latency times key-down in the controller tab → the first displayed frame showing the new
// count, in the controller tab (its latency meter) and in the viewer tab (its strip trace),
// both on the browser's epoch clock. A key the meter could not time (its frame came later than
// the meter waits) is counted, not fatal: the meter then confirms the strip again and hands
// over the samples of that stretch together. While the agent sends a picture smaller than the
// source's (its answer to a low bandwidth estimate) the strip cannot be read: no key is
// pressed then, and the time waited is reported. The whole is bounded by a time budget.
func (f *fanoutBench) latency(t *testing.T, controller, viewer context.Context, n, samples int) {
	t.Helper()
	hasViewer := n >= 2
	// Warm up: the meter confirms the strip, bandwidth estimation ramps.
	for i := 0; i < 20; i++ {
		require.NoError(t, press(controller, letterA))
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	origin, err := js[float64](controller, `performance.timeOrigin`)
	require.NoError(t, err)
	taken, err := js[float64](controller, `performance.now()`) // samples of keys before this are the warm-up's
	require.NoError(t, err)
	var own, relayed []float64
	presses, untimed, unseen := 0, 0, 0
	var small time.Duration
	deadline := time.Now().Add(max(30*time.Second, time.Duration(samples)*600*time.Millisecond))
	for len(own) < samples && time.Now().Before(deadline) {
		if h, err := js[float64](controller, `window.kvm.stats.height || 0`); err == nil && h < fanoutHeight {
			small += 250 * time.Millisecond
			time.Sleep(250 * time.Millisecond)
			continue
		}
		total, err := js[int](controller, `window.kvm.latencyTotal`)
		require.NoError(t, err)
		require.NoError(t, press(controller, letterA))
		presses++
		if !pollJS(controller, fmt.Sprintf("window.kvm.latencyTotal > %d", total), 3*time.Second) {
			untimed++
			continue
		}
		batch, err := js[[][]float64](controller, `window.kvm.latencyByKey.filter(([t]) => t > `+jsNumber(taken)+`)`)
		require.NoError(t, err)
		count, err := js[int](controller, `window.kvm.stripCount`)
		require.NoError(t, err)
		for j, s := range batch {
			require.Len(t, s, 2)
			own = append(own, s[1])
			taken = s[0]
			if !hasViewer {
				continue
			}
			// A batch answers consecutive keys: the last one shows the count on screen now.
			want := (count - (len(batch) - 1 - j)) & 0xffff
			keyAt := origin + s[0]
			find := fmt.Sprintf(`(() => { const e = window.kvm.stripTrace.find(([at, c]) => c === %d && at >= %s); return e ? e[0] : 0; })()`, want, jsNumber(keyAt))
			seen := time.Now().Add(3 * time.Second)
			for {
				shown, err := js[float64](viewer, find)
				require.NoError(t, err)
				if shown > 0 {
					relayed = append(relayed, shown-keyAt)
					break
				}
				if time.Now().After(seen) {
					unseen++
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		// Random spacing so presses do not phase-lock with the source's steady tick.
		time.Sleep(time.Duration(30+rand.IntN(50)) * time.Millisecond)
	}
	note := fmt.Sprintf("%d keys", presses)
	if untimed > 0 {
		note += fmt.Sprintf(", %d not timed by the meter", untimed)
	}
	if small > 0 {
		note += fmt.Sprintf(", %s waited while the agent sent a smaller picture", small)
	}
	if len(own) == 0 {
		// Only a picture smaller than the source's hides the strip; anything else is broken.
		require.Positive(t, small, "no latency sample, with the picture at full size")
		fmt.Printf("bench-fanout N=%d: key-down → frame shown: no sample (%s)\n", n, note)
		return
	}
	fmt.Printf("bench-fanout N=%d: key-down → frame shown, controller tab (peer to peer): %s (%s); jitter buffer %s\n", n, summary(own), note, jitterBuffer(controller))
	if hasViewer {
		require.NotEmpty(t, relayed, "the viewer tab showed the controller's keys")
		note := ""
		if unseen > 0 {
			note = fmt.Sprintf(" (%d timed keys not seen within 3 s)", unseen)
		}
		fmt.Printf("bench-fanout N=%d: key-down → frame shown, viewer tab (relayed): %s%s; jitter buffer %s\n", n, summary(relayed), note, jitterBuffer(viewer))
	}
}

// jsNumber writes x so that the page reads back exactly x (a rounded key-down time would
// match its own sample again).
func jsNumber(x float64) string {
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// jitterBuffer is the tab's mean jitter-buffer delay over the last stats second, which the
// browser adds before a frame is decoded.
func jitterBuffer(tab context.Context) string {
	ms, err := js[float64](tab, `window.kvm.stats.jitterBufferMs ?? -1`)
	if err != nil || ms < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// pollJS reports whether a boolean expression became true in the page within timeout.
func pollJS(tab context.Context, expr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if ok, err := js[bool](tab, "!!("+expr+")"); err == nil && ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recording closes every console, turns the organization's recording on, opens
// fanoutRecordingViewers consoles again as before and measures a window like the one taken
// with recording off; then it closes them and reads the recording's size and duration from
// the catalogue.
func (f *fanoutBench) recording(t *testing.T, controller, viewer context.Context, loads *[]*testconsole.Console, off fanoutWindow, window time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f.closeConsoles(t, controller, viewer, loads)
	setRecording(t, ctx, f.api, "on")

	f.openConsoles(t, controller, viewer, loads, fanoutRecordingViewers)
	var rec client.Recording
	require.Eventually(t, func() bool {
		page, err := f.api.Recordings(ctx, client.RecordingFilter{DeviceID: f.deviceID})
		if err != nil || len(page.Recordings) == 0 {
			return false
		}
		rec = page.Recordings[0]
		return rec.State == "recording"
	}, 20*time.Second, 100*time.Millisecond, "the recording started")
	time.Sleep(3 * time.Second)
	on := f.measure(t, controller, viewer, *loads, window)
	on.print(fmt.Sprintf("N=%d recording", fanoutRecordingViewers), fanoutRecordingViewers)
	f.printLadder(t, fmt.Sprintf("N=%d recording", fanoutRecordingViewers))
	f.closeConsoles(t, controller, viewer, loads)
	require.Eventually(t, func() bool {
		var err error
		rec, err = f.api.Recording(ctx, rec.ID)
		return err == nil && rec.State != "recording"
	}, 60*time.Second, 200*time.Millisecond, "the recording closed when its last console left")
	require.Equal(t, "complete", rec.State, "error: %s", rec.Error)
	require.Positive(t, rec.DurationMS)

	fmt.Printf("bench-fanout recording, %d consoles: relay CPU %.2f ms per frame on (sent as %s), %.2f off (sent as %s): %+.2f ms per frame, %+.1f%% of a core\n",
		fanoutRecordingViewers, on.msPerFrame(on.relayCPU), on.size, off.msPerFrame(off.relayCPU), off.size,
		on.msPerFrame(on.relayCPU)-off.msPerFrame(off.relayCPU), on.cpuPercent(on.relayCPU)-off.cpuPercent(off.relayCPU))
	minutes := float64(rec.DurationMS) / 60000
	fmt.Printf("bench-fanout recording of the %dx%d source (sent as %s at the window's end): %.2f MB per minute (%d bytes, %d frames in %.1f s, from the catalogue)\n",
		fanoutWidth, fanoutHeight, on.size, float64(rec.Bytes)/minutes/1e6, rec.Bytes, rec.Frames, float64(rec.DurationMS)/1000)
}

// closeConsoles ends every console of the device (the tabs with their Disconnect button) and
// waits until the relay holds none: the next console is the device's first again, and a
// recording starts with it.
func (f *fanoutBench) closeConsoles(t *testing.T, controller, viewer context.Context, loads *[]*testconsole.Console) {
	t.Helper()
	for _, con := range *loads {
		con.Close()
	}
	*loads = nil
	for _, tab := range []context.Context{controller, viewer} {
		_, _ = js[any](tab, `document.getElementById("btn-disconnect") && document.getElementById("btn-disconnect").click()`)
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate("about:blank")))
	}
	require.Eventually(t, func() bool {
		n, err := scrapeMetric(f.relay.url+"/metrics", "kvmrelay_console_sessions")
		return err == nil && n == 0
	}, 30*time.Second, 100*time.Millisecond, "the relay still holds console sessions")
}
