package v4l2

import (
	"testing"

	"go.uber.org/goleak"
)

// Close and cancelled contexts must leave no goroutine behind (context.AfterFunc wakers).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
