package mjpeg

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
				b.ReportMetric(float64(len(data)), "jpeg-bytes")
				for b.Loop() {
					img, err := d.Decode(data)
					if err != nil || img.Rect.Dx() != 1920 {
						b.Fatal(err)
					}
				}
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
// frame hand-off, decode, 4:2:0 — per frame, with ffmpeg (another process, not counted)
// serving a pre-encoded 1080p 4:2:2 MJPEG file by copy. "paced" sends 30 fps as a streamer
// does and the consumer takes every frame: cpu-ms/frame and the share of one core at 30 fps.
// "unpaced" sends as fast as TCP allows: ns/op is the frame rate the path sustains, and the
// frames it had to drop are counted.
//
//	go test -run '^$' -bench SourcePath -benchtime 150x ./device/mjpeg/
func BenchmarkSourcePath(b *testing.B) {
	ff := testenv.LookPath(b, "ffmpeg", "ffmpeg")
	clip := filepath.Join(b.TempDir(), "clip.mjpeg")
	out, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", "testsrc2=size=1920x1080:rate=30", "-t", "2", "-pix_fmt", "yuvj422p", "-q:v", "4",
		"-f", "mjpeg", clip).CombinedOutput()
	require.NoError(b, err, "%s", out)
	for _, paced := range []bool{true, false} {
		for _, dname := range []string{"turbo", "std"} {
			newDec, ok := decoders()[dname]
			if !ok {
				continue
			}
			name := dname + "/unpaced"
			if paced {
				name = dname + "/paced-30fps"
			}
			b.Run(name, func(b *testing.B) {
				port := freePort(b)
				args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
				if paced {
					args = append(args, "-re")
				}
				args = append(args, "-stream_loop", "-1", "-f", "mjpeg", "-framerate", "30", "-i", clip,
					"-c", "copy", "-f", "mpjpeg", "-listen", "1", "http://127.0.0.1:"+strconv.Itoa(port)+"/stream")
				cmd := exec.Command(ff, args...)
				cmd.Stderr = os.Stderr
				require.NoError(b, cmd.Start())
				defer func() {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}()
				st := openBench(b, Config{URL: ffmpegURL(port), NewDecoder: newDec})
				defer st.Close()
				ctx := context.Background()
				if _, err := st.Next(ctx); err != nil { // connection warm-up
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
