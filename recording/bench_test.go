package recording

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkRecord1080p records a 1080p30 x264 stream (encoded once, 4 Mbps, a keyframe every
// second) as it comes from the forwarder: reordering, reassembly, muxing, writing and the
// sync of every fragment. It reports the CPU time per frame and the size of a minute of
// recording.
//
//	go test ./recording/ -run '^$' -bench BenchmarkRecord1080p -benchtime 20x
func BenchmarkRecord1080p(b *testing.B) {
	const seconds = 4
	frames := testStream(b, segment{width: 1920, height: 1080, frames: seconds * testFPS, keyEvery: testFPS, bitrate: 4_000_000})
	dir := b.TempDir()
	var size int64
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		r, err := New(Config{Dir: dir, ID: fmt.Sprintf("bench-%d", i), Codec: "video/H264"})
		require.NoError(b, err)
		for _, f := range frames {
			for _, p := range f.packets {
				if err := r.WriteRTP(p); err != nil {
					b.Fatal(err)
				}
			}
		}
		s, err := r.Close()
		require.NoError(b, err)
		if s.Frames != len(frames) {
			b.Fatalf("%d frames recorded of %d", s.Frames, len(frames))
		}
		size = s.Video.Size
	}
	b.StopTimer()
	// Wall time includes waiting for each fragment's fsync; CPU time (the process's user and
	// system time, the GC included) is what the relay's cores pay.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N*len(frames)), "cpu-ns/frame")
	b.ReportMetric(float64(size)*float64(time.Minute/time.Second)/seconds, "bytes/min")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
