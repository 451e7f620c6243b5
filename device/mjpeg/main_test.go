package mjpeg

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests, whose streams' reader goroutines, ffmpeg waiters and test servers
// must all be gone at the end; or, started by BenchmarkSourcePath, serves a stream.
func TestMain(m *testing.M) {
	if spec := os.Getenv(benchServeEnv); spec != "" {
		os.Exit(benchServe(spec))
	}
	goleak.VerifyTestMain(m)
}
