// Package vncserver starts real VNC servers for tests: x11vnc on an Xvfb display, with Tk's
// wish as an X client that draws colours and reports the input it receives, and QEMU's
// built-in VNC server showing SeaBIOS.
package vncserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// Display is a running Xvfb.
type Display struct {
	Name string // ":N"
}

// Xvfb starts a virtual X display of w×h at 24 bits; the test's cleanup stops it.
func Xvfb(t testing.TB, w, h int) *Display {
	t.Helper()
	bin := testenv.LookPath(t, "Xvfb", "xvfb")
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", w, h), "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Stderr = io.Discard
	start(t, cmd)
	_ = wr.Close()
	defer r.Close()
	_ = r.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb did not report its display: %v", err)
	}
	return &Display{Name: ":" + strings.TrimSpace(line)}
}

// Env is the environment of an X client on this display.
func (d *Display) Env() []string { return append(os.Environ(), "DISPLAY="+d.Name) }

// X11VNC starts x11vnc on the display, listening on 127.0.0.1 only; password "" means none.
// It returns the server's address once it listens. extra are more x11vnc flags.
func X11VNC(t testing.TB, d *Display, password string, extra ...string) string {
	t.Helper()
	bin := testenv.LookPath(t, "x11vnc", "x11vnc")
	port := testenv.FreePort(t)
	args := []string{"-display", d.Name, "-rfbport", strconv.Itoa(port), "-localhost", "-forever", "-shared", "-norc"}
	if password == "" {
		args = append(args, "-nopw")
	} else {
		args = append(args, "-passwd", password)
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	start(t, cmd)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "PORT="); ok {
				found <- p
			}
		}
		close(found)
	}()
	select {
	case p, ok := <-found:
		if !ok {
			t.Fatal("x11vnc exited before listening")
		}
		return net.JoinHostPort("127.0.0.1", p)
	case <-time.After(15 * time.Second):
		t.Fatal("x11vnc did not start listening within 15 s")
	}
	return ""
}

// start runs cmd in its own process group and stops the group when the test ends: SIGTERM
// first, so x11vnc removes the System V shared-memory segments it made for MIT-SHM (killed,
// it leaks them, and after a few thousand the machine's segments run out — PostgreSQL then
// fails to start), SIGKILL after stopGrace.
func start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopGrace):
		}
		// The group may hold more than the leader (wish's children); none outlives the test.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
}

// stopGrace is how long a server has to clean up after SIGTERM.
const stopGrace = 3 * time.Second

// Lines collects a program's output lines so a test can wait for one.
type Lines struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{}
}

func newLines(r io.Reader) *Lines {
	l := &Lines{more: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			close(l.more)
			l.more = make(chan struct{})
			l.mu.Unlock()
		}
	}()
	return l
}

// Wait returns the first line (from the start) for which match is true, or fails the test
// when ctx ends first.
func (l *Lines) Wait(ctx context.Context, t testing.TB, what string, match func(string) bool) string {
	t.Helper()
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if match(s) {
				l.mu.Unlock()
				return s
			}
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; output so far:\n%s", what, ctx.Err(), strings.Join(l.All(), "\n"))
			return ""
		}
	}
}

// All returns the lines so far.
func (l *Lines) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// Wish runs a Tk script on the display; its standard output comes back as Lines.
func Wish(t testing.TB, d *Display, script string) *Lines {
	t.Helper()
	bin := testenv.LookPath(t, "wish", "tk")
	// A script file, not standard input: wish exits at the end of its input.
	file := t.TempDir() + "/script.tcl"
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, file)
	cmd.Env = d.Env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start(t, cmd)
	return newLines(out)
}

// Probe is a Tk window at (X, Y) of W×H on the root, painted in three colours, that prints
// "ready" once shown, then "key KEYSYM" for each key press (and shows the last one below the
// squares, so a key changes the screen as typing does) and "press BUTTON X Y" (root
// coordinates) for each button press: what the remote machine saw.
type Probe struct {
	*Lines
	X, Y, W, H int
}

// Probe colours: the window is red with a green square at its left and a blue one beside it,
// each Square pixels wide at the window's top.
const (
	ProbeRed   = 0xFF0000
	ProbeGreen = 0x00FF00
	ProbeBlue  = 0x0000FF
	Square     = 100
)

// StartProbe shows the probe window and waits until it is on screen. With blink, a square
// right of the blue one turns white and black every 50 ms: the screen never rests.
func StartProbe(ctx context.Context, t testing.TB, d *Display, x, y int, blink bool) *Probe {
	t.Helper()
	p := &Probe{X: x, Y: y, W: 400, H: 300}
	script := fmt.Sprintf(`
wm geometry . %dx%d+%d+%d
. configure -background #ff0000 -cursor crosshair
frame .g -background #00ff00 -width %d -height %d
frame .b -background #0000ff -width %d -height %d
place .g -x 0 -y 0
place .b -x %d -y 0
label .k -text "" -background #ff0000 -foreground #ffffff -font {Courier 24}
place .k -x 0 -y %d
bind . <KeyPress> {puts "key %%K"; flush stdout; .k configure -text %%K}
bind . <ButtonPress> {puts "press %%b %%X %%Y"; flush stdout}
bind .g <ButtonPress> {puts "press %%b %%X %%Y"; flush stdout}
bind .b <ButtonPress> {puts "press %%b %%X %%Y"; flush stdout}
if {%v} {
	frame .t -background #ffffff -width %d -height %d
	place .t -x %d -y 0
	proc blink {} {
		if {[.t cget -background] eq "#ffffff"} {.t configure -background #000000} else {.t configure -background #ffffff}
		after 50 blink
	}
	blink
}
tkwait visibility .
focus -force .
update
puts ready
flush stdout
`, p.W, p.H, x, y, Square, Square, Square, Square, Square, Square+20, blink, Square, Square, 2*Square)
	p.Lines = Wish(t, d, script)
	p.Wait(ctx, t, "the probe window", func(s string) bool { return s == "ready" })
	return p
}

// X11VNCRemote sends a remote-control command to the x11vnc serving d ("scale:1/2" changes
// the framebuffer size its clients see) and waits until x11vnc has run it. x11vnc reads such
// commands only once its main loop runs, a few seconds after the first client connected, so
// the command is retried until it is acknowledged.
func X11VNCRemote(t testing.TB, d *Display, command string) {
	t.Helper()
	bin := testenv.LookPath(t, "x11vnc", "x11vnc")
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command(bin, "-display", d.Name, "-sync", "-remote", command).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("x11vnc -remote %s: %v\n%s", command, err, out)
		}
	}
}

// StartStrip shows the latency strip (DESIGN.md: 16 blocks of 32×32 px at the screen's
// top-left, block i white when bit i of the key-down count is set) in a Tk window that counts
// the key presses it receives: a real X application drawing what the test pattern draws, so
// the console's latency meter measures key → screen through a VNC server. The window covers
// the w×h screen (there is no window manager: it sits at 0,0 undecorated), so it has the
// keyboard wherever the pointer is.
func StartStrip(ctx context.Context, t testing.TB, d *Display, w, h int) *Lines {
	t.Helper()
	script := fmt.Sprintf(`
wm geometry . %dx%d+0+0
. configure -background #404040
canvas .c -width 512 -height 32 -highlightthickness 0 -background #000000
place .c -x 0 -y 0
for {set i 0} {$i < 16} {incr i} {
	.c create rectangle [expr {$i*32}] 0 [expr {$i*32+32}] 32 -fill #000000 -outline "" -tags b$i
}
set count 0
proc show {} {
	global count
	for {set i 0} {$i < 16} {incr i} {
		if {($count >> $i) & 1} {set c #ffffff} else {set c #000000}
		.c itemconfigure b$i -fill $c
	}
}
bind . <KeyPress> {incr count; show}
tkwait visibility .
focus -force .
update
puts ready
flush stdout
`, w, h)
	l := Wish(t, d, script)
	l.Wait(ctx, t, "the strip window", func(s string) bool { return s == "ready" })
	return l
}
