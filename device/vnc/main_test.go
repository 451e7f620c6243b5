package vnc_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Readers, motion timers and the test servers' output readers must all be gone at the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
