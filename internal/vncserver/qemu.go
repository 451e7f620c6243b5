package vncserver

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// QEMU is a diskless PC in QEMU (TCG, no KVM needed) whose screen is served by QEMU's own VNC
// server: SeaBIOS with its boot menu enabled, which ends at "No bootable device".
type QEMU struct {
	Addr     string
	debugLog string
	monitor  io.Writer
}

// QEMUConfig configures StartQEMU.
type QEMUConfig struct {
	// Splash shows a w×h JPEG boot splash (SeaBIOS switches to a VESA mode of that size) for
	// SplashTime, during which Escape opens the boot menu. Zero: text mode only.
	SplashWidth, SplashHeight int
	SplashTime                time.Duration
	// Paused starts the machine stopped (QEMU's placeholder screen) until Continue.
	Paused bool
}

// StartQEMU starts the machine; SeaBIOS's debug output (port 0x402) goes to a file that
// DebugContains reads.
func StartQEMU(t testing.TB, cfg QEMUConfig) *QEMU {
	t.Helper()
	bin := testenv.LookPath(t, "qemu-system-x86_64", "qemu-system-x86")
	dir := t.TempDir()
	port := testenv.FreePort(t)
	for port < 5900 {
		port = testenv.FreePort(t)
	}
	q := &QEMU{Addr: fmt.Sprintf("127.0.0.1:%d", port), debugLog: filepath.Join(dir, "seabios.log")}
	boot := "menu=on"
	if cfg.SplashWidth > 0 {
		splash := filepath.Join(dir, "splash.jpg")
		writeSplash(t, splash, cfg.SplashWidth, cfg.SplashHeight)
		boot += fmt.Sprintf(",splash=%s,splash-time=%d", splash, cfg.SplashTime.Milliseconds())
	}
	args := []string{
		"-display", "none", "-vnc", fmt.Sprintf("127.0.0.1:%d", port-5900),
		"-nodefaults", "-vga", "std", "-m", "64", "-no-reboot", "-accel", "tcg",
		"-boot", boot, "-serial", "none", "-monitor", "stdio",
		"-chardev", "file,id=dbg,path=" + q.debugLog, "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
	}
	if cfg.Paused {
		args = append(args, "-S")
	}
	cmd := exec.Command(bin, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	q.monitor = in
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start(t, cmd)
	WaitListening(t, q.Addr)
	return q
}

// Continue starts a machine started paused.
func (q *QEMU) Continue(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(q.monitor, "cont\n"); err != nil {
		t.Fatalf("qemu monitor: %v", err)
	}
}

// WaitDebug waits until SeaBIOS's debug output contains text.
func (q *QEMU) WaitDebug(ctx context.Context, t testing.TB, text string) {
	t.Helper()
	for {
		b, _ := os.ReadFile(q.debugLog)
		if strings.Contains(string(b), text) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("SeaBIOS never printed %q; its log:\n%s", text, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitListening waits until something accepts TCP connections on addr, without speaking to it.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	hexPort := fmt.Sprintf(":%04X ", mustAtoi(t, port))
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		// /proc/net/tcp lists listening sockets (state 0A) without a connection attempt that
		// the server would count as a client.
		b, _ := os.ReadFile("/proc/net/tcp")
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1]+" ", hexPort) && f[3] == "0A" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

func mustAtoi(t testing.TB, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeSplash writes a w×h JPEG: a dark picture with a light band, easy to tell apart.
func writeSplash(t testing.TB, path string, w, h int) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{0, 0, 96, 255}
			if y > h/3 && y < h*2/3 {
				c = color.RGBA{224, 224, 224, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
}
