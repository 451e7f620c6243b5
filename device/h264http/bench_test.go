package h264http_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/passthrough"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

// encode1080p has ffmpeg encode 60 frames of 1080p at 4 Mbps (a console's bitrate), GOP 30.
func encode1080p(b *testing.B) [][]byte {
	b.Helper()
	ffmpeg := testenv.LookPath(b, "ffmpeg", "ffmpeg")
	out := filepath.Join(b.TempDir(), "1080p.h264")
	cmd := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-frames:v", "60",
		"-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-b:v", "4M", "-g", "30", "-f", "h264", out)
	msg, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s", msg)
	data, err := os.ReadFile(out)
	require.NoError(b, err)
	s := h264.NewSplitter(0)
	var aus [][]byte
	for _, au := range append(s.Push(data), s.Flush()...) {
		var annexB []byte
		for _, n := range au {
			annexB = append(append(annexB, 0, 0, 0, 1), n...)
		}
		aus = append(aus, annexB)
	}
	require.Len(b, aus, 60)
	return aus
}

// BenchmarkPassthrough1080p is the agent's CPU per frame for a 1080p H.264 source: splitting
// the byte stream, the gate (parameter sets, B-frame check), the queue and Next, across the
// reader and consumer goroutines as in the agent. No decoding, no encoding.
func BenchmarkPassthrough1080p(b *testing.B) {
	aus := encode1080p(b)
	var stream []byte
	for _, au := range aus {
		stream = append(stream, au...)
	}
	b.SetBytes(int64(len(stream) / len(aus)))
	tokens := make(chan struct{}, 1)
	v := passthrough.Start(passthrough.Config{}, func(ctx context.Context, v *passthrough.Video) error {
		fwd := &passthrough.Forwarder{Video: v}
		s := h264.NewSplitter(0)
		for {
			for rest := stream; len(rest) > 0; {
				n := min(len(rest), 64<<10) // what one read from a socket brings
				for _, au := range s.Push(rest[:n]) {
					if err := fwd.Forward(au, time.Now()); err != nil {
						return err
					}
					select {
					case <-tokens:
					case <-ctx.Done():
						return nil
					}
				}
				rest = rest[n:]
			}
		}
	})
	defer v.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tokens <- struct{}{}
		if _, err := v.Next(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCaptureToNext1080p serves the 1080p stream over loopback HTTP at 30 fps, one write
// per access unit as an encoder does, and reports the time from the write of an access unit's
// last byte to Next returning it (ms), and from the unit's CaptureTime to Next (µs: the queue).
// The first is about one frame interval: a byte stream marks a unit's end only with the next.
func BenchmarkCaptureToNext1080p(b *testing.B) {
	aus := encode1080p(b)
	var mu sync.Mutex
	written := map[int]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for i := 0; ; i++ {
			if _, err := w.Write(aus[i%len(aus)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			mu.Lock()
			written[i] = time.Now()
			mu.Unlock()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}))
	defer srv.Close()
	src := newSource(b, strings.Replace(srv.URL, "http://", "h264+http://", 1)+"/x", device.Options{})
	conn, err := src.Open(context.Background())
	require.NoError(b, err)
	defer conn.Video.Close()
	var toNext, queue []time.Duration
	b.ResetTimer()
	for i := range b.N {
		f, err := conn.Video.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		mu.Lock()
		w, ok := written[i]
		mu.Unlock()
		if ok {
			toNext = append(toNext, now.Sub(w))
		}
		queue = append(queue, now.Sub(f.CaptureTime))
	}
	b.StopTimer()
	if len(toNext) > 0 {
		slices.Sort(toNext)
		b.ReportMetric(float64(toNext[len(toNext)/2].Microseconds())/1000, "ms-write-to-next-p50")
		b.ReportMetric(float64(toNext[len(toNext)-1].Microseconds())/1000, "ms-write-to-next-max")
	}
	slices.Sort(queue)
	b.ReportMetric(float64(queue[len(queue)/2].Microseconds()), "µs-capture-to-next-p50")
}
