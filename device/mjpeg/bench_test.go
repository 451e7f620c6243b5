package mjpeg

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// BenchmarkDecode decodes one 1080p testsrc2 JPEG (ffmpeg -q:v 4) into an I420 frame, per
// decoder and subsampling. ns/op is the cost of one frame.
//
//	go test -run '^$' -bench Decode -benchmem ./device/mjpeg/
func BenchmarkDecode(b *testing.B) {
	for _, sub := range []string{"420", "422"} {
		data := ffmpegJPEG(b, "1920x1080", "yuvj"+sub+"p")
		for _, dname := range []string{"turbo", "std"} {
			newDec, ok := decoders()[dname]
			if !ok {
				b.Logf("%s decoder not in this build", dname)
				continue
			}
			b.Run(dname+"/"+sub, func(b *testing.B) {
				d := newDec()
				defer d.Close()
				if _, err := d.Decode(data); err != nil { // the decoder's buffers, once
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					img, err := d.Decode(data)
					if err != nil || img.Rect.Dx() != 1920 {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data)), "jpeg-bytes")
			})
		}
	}
}

// BenchmarkConvert422 is the 4:2:2 → 4:2:0 chroma averaging alone, at 1080p.
func BenchmarkConvert422(b *testing.B) {
	img, err := jpeg.Decode(bytes.NewReader(ffmpegJPEG(b, "1920x1080", "yuvj422p")))
	require.NoError(b, err)
	src := img.(*image.YCbCr)
	require.Equal(b, image.YCbCrSubsampleRatio422, src.SubsampleRatio)
	var c toI420
	_, _ = c.convert(src)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.convert(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSourcePath is the agent's CPU for the whole source path — HTTP, multipart, newest
// frame hand-off, decode, 4:2:0 — per frame. A child process (this test binary, so its CPU is
// not counted) serves a 1080p 4:2:2 testsrc2 clip made by ffmpeg, looped, in ustreamer's
// format. "paced" sends 30 fps as a streamer does and the consumer takes every frame:
// cpu-ms/frame and the share of one core at 30 fps. "unpaced" sends as fast as TCP allows:
// ns/op is the frame interval the path sustains, dropped/frame what it skipped meanwhile.
//
//	go test -run '^$' -bench SourcePath -benchtime 150x ./device/mjpeg/
func BenchmarkSourcePath(b *testing.B) {
	ff := testenv.LookPath(b, "ffmpeg", "ffmpeg")
	clip := filepath.Join(b.TempDir(), "clip.mjpeg")
	out, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", "testsrc2=size=1920x1080:rate=30", "-t", "1", "-pix_fmt", "yuvj422p", "-q:v", "4",
		"-f", "mjpeg", clip).CombinedOutput()
	require.NoError(b, err, "%s", out)
	for _, paced := range []bool{true, false} {
		for _, dname := range []string{"turbo", "std"} {
			newDec, ok := decoders()[dname]
			if !ok {
				continue
			}
			name := dname + "/unpaced"
			fps := 0
			if paced {
				name, fps = dname+"/paced-30fps", 30
			}
			b.Run(name, func(b *testing.B) {
				port := testenv.FreePort(b)
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", benchServeEnv, clip, port, fps))
				cmd.Stderr = os.Stderr
				require.NoError(b, cmd.Start())
				defer func() {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}()
				st := openBench(b, Config{URL: ffmpegURL(port), NewDecoder: newDec})
				defer st.Close()
				ctx := context.Background()
				if _, err := st.Next(ctx); err != nil { // connection and decoder warm-up
					b.Fatal(err)
				}
				before := st.Stats()
				cpu0 := cpuTime()
				b.ResetTimer()
				for range b.N {
					if _, err := st.Next(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cpu := cpuTime() - cpu0
				after := st.Stats()
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/frame")
				if paced {
					b.ReportMetric(cpu.Seconds()/float64(b.N)*30*100, "%core@30fps")
				}
				b.ReportMetric(float64(after.Dropped-before.Dropped)/float64(b.N), "dropped/frame")
			})
		}
	}
}

// benchServeEnv makes the test binary serve a stream instead of testing: CLIP,PORT,FPS.
const benchServeEnv = "KVMRELAY_MJPEG_BENCH_SERVE"

// benchServe serves the JPEGs of an MJPEG clip, looped, to one client in ustreamer's format,
// at fps (0: as fast as the client reads). It returns the exit code.
func benchServe(spec string) int {
	var clip string
	var port, fps int
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		return 2
	}
	clip = parts[0]
	if _, err := fmt.Sscanf(parts[1]+" "+parts[2], "%d %d", &port, &fps); err != nil {
		return 2
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		return 1
	}
	var frames [][]byte
	for len(data) > 0 {
		var s endScanner
		n, done, err := s.feed(data)
		if err != nil || !done {
			break
		}
		frames = append(frames, []byte(ustreamerPart(data[:n])))
		data = data[n:]
	}
	if len(frames) == 0 {
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return 1
	}
	c, err := ln.Accept()
	if err != nil {
		return 1
	}
	if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
		return 1
	}
	if _, err := c.Write([]byte(ustreamerHeader)); err != nil {
		return 1
	}
	var tick <-chan time.Time
	if fps > 0 {
		tick = time.NewTicker(time.Second / time.Duration(fps)).C
	}
	for i := 0; ; i++ {
		if tick != nil {
			<-tick
		}
		if _, err := c.Write(frames[i%len(frames)]); err != nil {
			return 0 // the benchmark is done and hung up
		}
	}
}

// openBench opens the stream, retrying while ffmpeg starts listening.
func openBench(b *testing.B, cfg Config) *Stream {
	deadline := time.Now().Add(hangGuard)
	for {
		conn, err := New(cfg).Open(context.Background())
		if err == nil {
			return conn.Video.(*Stream)
		}
		if time.Now().After(deadline) {
			b.Fatalf("ffmpeg never served the stream: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cpuTime is the CPU this process used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
