package mjpeg

import (
	"testing"

	"go.uber.org/goleak"
)

// Streams' reader goroutines, ffmpeg waiters and test servers must all be gone at the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
